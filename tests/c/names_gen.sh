#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# names_gen.sh INCDIR LIST HEADER [DEFINE]
#
# Writes to stdout a C translation unit that includes only <HEADER> (after #define DEFINE, if
# given) and then uses every name of LIST, a names list of tests/c/names/ (upstream netmap's
# public names, one per line, "KIND NAME [MORE]"):
#
#   guard NAME          macro that must be defined (possibly empty)          #ifndef/#error
#   macro NAME          object-like macro with an integer value              #ifndef + case label
#   smacro NAME         object-like macro with a string literal value        #ifndef + sizeof
#   fmacro NAME         function-like macro                                  #ifndef + a call below
#   const NAME          integer constant, enum constant or macro             case label
#   struct NAME         complete struct type                                 sizeof
#   opaque NAME         struct type that may be incomplete                   pointer to it
#   member STRUCT NAME  member of a struct                                   offsetof
#   typedef NAME        type name                                            sizeof
#   func NAME           function (extern or static inline)                   address taken
#   var NAME            variable                                             address taken
#   sysinc HDR func F   system header the netmap header includes, witnessed by function F
#   sysinc HDR const C  ... witnessed by integer constant C
#   switch NAME         macro the application defines; the headers must test it (grep)
#
# The unit is compiled, not run (make test-c builds it as C11 and as C++17 with -Wall -Wextra
# -Werror -pedantic).  It fails to generate when LIST has an unknown kind, a function-like
# macro without a use below, a duplicate, or a name also listed in tests/c/names/omitted.txt.
set -eu

[ $# -ge 3 ] || { echo "usage: $0 INCDIR LIST HEADER [DEFINE]" >&2; exit 2; }
incdir=$1 list=$2 header=$3 define=${4:-}
omitted=$(dirname "$list")/omitted.txt

# Application switches must be tested somewhere in the headers.
for sw in $(awk '$1 == "switch" { print $2 }' "$list"); do
	grep -rqw -- "$sw" "$incdir" || { echo "$list: switch $sw is not tested by any header" >&2; exit 1; }
done

awk -v list="$list" -v header="$header" -v define="$define" -v omitted="$omitted" '
function fail(msg) { print list ": " msg > "/dev/stderr"; bad = 1; exit 1 }
function use_fmacro(n) {
	# One use of each function-like macro, on locals made from the unused parameter p.
	if (n == "NS_RFRAGS")       return "{ struct netmap_slot *slot = (struct netmap_slot *)p; n += NS_RFRAGS(slot); }"
	if (n == "likely")          return "if (likely(n > 0)) n++;"
	if (n == "unlikely")        return "if (unlikely(n > 0)) n++;"
	if (n == "_NETMAP_OFFSET")  return "{ struct netmap_if *nifp = _NETMAP_OFFSET(struct netmap_if *, p, 8); (void)nifp; }"
	if (n == "NETMAP_IF")       return "{ struct netmap_if *nifp = NETMAP_IF(p, 0); (void)nifp; }"
	if (n == "NETMAP_TXRING")   return "{ struct netmap_if *nifp = (struct netmap_if *)p; struct netmap_ring *r = NETMAP_TXRING(nifp, 0); (void)r; }"
	if (n == "NETMAP_RXRING")   return "{ struct netmap_if *nifp = (struct netmap_if *)p; struct netmap_ring *r = NETMAP_RXRING(nifp, 0); (void)r; }"
	if (n == "NETMAP_BUF")      return "{ struct netmap_ring *r = (struct netmap_ring *)p; char *b = NETMAP_BUF(r, 2); (void)b; }"
	if (n == "NETMAP_BUF_IDX")  return "{ struct netmap_ring *r = (struct netmap_ring *)p; char *b = (char *)p; n += (int)NETMAP_BUF_IDX(r, b); }"
	if (n == "NETMAP_ROFFSET")  return "{ struct netmap_ring *r = (struct netmap_ring *)p; struct netmap_slot *s = r->slot; n += (int)NETMAP_ROFFSET(r, s); }"
	if (n == "NETMAP_WOFFSET")  return "{ struct netmap_ring *r = (struct netmap_ring *)p; struct netmap_slot *s = r->slot; NETMAP_WOFFSET(r, s, 64); }"
	if (n == "NETMAP_BUF_OFFSET") return "{ struct netmap_ring *r = (struct netmap_ring *)p; struct netmap_slot *s = r->slot; char *b = NETMAP_BUF_OFFSET(r, s); (void)b; }"
	if (n == "ND")              return "ND(\"n %d\", n);"
	if (n == "D")               return "D(\"n %d\", n); D(\"no arguments\");"
	if (n == "RD")              return "RD(5, \"n %d\", n);"
	if (n == "P2NMD")           return "n += P2NMD(p)->fd;"
	if (n == "IS_NETMAP_DESC")  return "if (IS_NETMAP_DESC(p)) n++;"
	if (n == "NETMAP_FD")       return "n += NETMAP_FD(p);"
	if (n == "nmreq_foreach_option") return "{ struct nmreq_header *h = (struct nmreq_header *)p; struct nmreq_option *o; nmreq_foreach_option(h, o) n++; }"
	fail("no use written for function-like macro " n)
}
function ident(s) { gsub(/[^A-Za-z0-9_]/, "_", s); return s }
BEGIN {
	while ((getline line < omitted) > 0) {
		if (line ~ /^[ \t]*(#|$)/) continue
		split(line, f, " "); left_out[f[1]] = 1
	}
}
/^[ \t]*(#|$)/ { next }
{
	kind = $1; name = $2
	key = (kind == "member" || kind == "sysinc") ? $2 "." $3 "." $4 : name
	if (key in seen) fail("duplicate entry " kind " " key)
	seen[key] = 1
	chk = (kind == "member") ? $3 : name
	if (kind != "sysinc" && (chk in left_out)) fail(chk " is listed in omitted.txt too")
	if (kind == "guard") {
		pre = pre "#ifndef " name "\n#error \"" name " is not defined\"\n#endif\n"
	} else if (kind == "macro" || kind == "smacro" || kind == "fmacro") {
		pre = pre "#ifndef " name "\n#error \"" name " is not a macro\"\n#endif\n"
		if (kind == "macro")  body = body "\tswitch (u) { case (" name "): break; default: break; }\n"
		if (kind == "smacro") body = body "\t{ const char *str = " name "; n += (int)sizeof(" name ") + (str != 0); }\n"
		if (kind == "fmacro") body = body "\t" use_fmacro(name) "\n"
	} else if (kind == "const") {
		body = body "\tswitch (u) { case (" name "): break; default: break; }\n"
	} else if (kind == "struct") {
		body = body "\tn += (int)sizeof(struct " name ");\n"
	} else if (kind == "opaque") {
		body = body "\t{ struct " name " *q = (struct " name " *)p; (void)q; }\n"
	} else if (kind == "member") {
		if (NF != 3) fail("member needs STRUCT NAME: " $0)
		body = body "\tn += (int)offsetof(struct " $2 ", " $3 ");\n"
	} else if (kind == "typedef") {
		body = body "\tn += (int)sizeof(" name ");\n"
	} else if (kind == "func" || kind == "var") {
		body = body "\t(void)&" name ";\n"
	} else if (kind == "sysinc") {
		if (NF != 4 || ($3 != "func" && $3 != "const")) fail("sysinc needs HDR func|const WITNESS: " $0)
		if ($3 == "func") body = body "\t(void)&" $4 "; /* <" $2 "> */\n"
		else body = body "\tswitch (u) { case (" $4 "): break; default: break; } /* <" $2 "> */\n"
	} else if (kind == "switch") {
		pre = pre "/* " name ": defined by the application, tested by the headers */\n"
	} else {
		fail("unknown kind " kind)
	}
	count++
}
END {
	if (bad) exit 1
	print "/* Generated by tests/c/names_gen.sh from " list ": do not edit. */"
	print "/* Uses each of the " count " names upstream provides through <" header ">. */"
	if (define != "") print "#define " define
	print "#include <" header ">"
	print ""
	print "#include <stddef.h> /* offsetof, included after the header under test */"
	print ""
	printf "%s", pre
	print ""
	print "#ifdef __cplusplus"
	print "extern \"C\""
	print "#endif"
	print "int nmxdp_names_" ident(list) "(void *p, unsigned long long u);"
	print ""
	print "int"
	print "nmxdp_names_" ident(list) "(void *p, unsigned long long u)"
	print "{"
	print "\tint n = 0;"
	print "\t(void)p;"
	print ""
	printf "%s", body
	print "\treturn n;"
	print "}"
}
' "$list"
