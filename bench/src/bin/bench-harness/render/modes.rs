//! What each program reported about its XDP attach and bind modes (first good run of a row).

use nmxdp_bench::json::Json;

use crate::cell::Cell;
use crate::rows::ROWS;

/// The line of a program's stderr that names its modes.
fn mode_of(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.contains("bind=") || l.contains("TPACKET"))
        .map(|l| l.trim().to_string())
}

/// One note per row that printed its modes; `modes` of results.json.
pub fn modes(notes: &mut Vec<String>, cells: &[Cell]) -> Vec<(String, Json)> {
    let mut json = Vec::new();
    for row in ROWS {
        let Some(run) = cells
            .iter()
            .filter(|c| c.row == row)
            .flat_map(|c| c.ok_runs())
            .next()
        else {
            continue;
        };
        let (rx, tx) = (mode_of(&run.rx.stderr), mode_of(&run.tx.stderr));
        if rx.is_some() || tx.is_some() {
            notes.push(format!(
                "modes of {}: receiver `{}`, sender `{}`",
                row.name(),
                rx.clone().unwrap_or_else(|| "?".into()),
                tx.clone().unwrap_or_else(|| "?".into())
            ));
        }
        json.push((
            row.name().to_string(),
            Json::obj([
                ("rx", rx.map_or(Json::Null, Json::Str)),
                ("tx", tx.map_or(Json::Null, Json::Str)),
            ]),
        ));
    }
    json
}
