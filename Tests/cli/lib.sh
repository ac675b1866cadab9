# Shared by the CLI check scripts: run a command, compare its exit status, keep its output.
passed=0; failed=0
check() {  # name, expected exit code, command...
    local name="$1" want="$2"; shift 2
    local out; out="$("$@" 2>&1)"; local got=$?
    if [ "$got" -eq "$want" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name: exit $got, wanted $want"; echo "$out"; fi
    LAST_OUTPUT="$out"
}
# expect NAME 'SHELL CONDITION': one more failure, with NAME and the last output, unless the
# condition (evaluated as written, && and pipes included) holds.
expect() {
    local name="$1"; shift
    if eval "$1"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name"; echo "$LAST_OUTPUT"; fi
}
