#!/usr/bin/env bash
# Build and run librdkafka's own regression tests (its `tests/test-runner`) against a broker.
#
#   scripts/librdkafka-tests.sh build
#       Builds the runner (when stale) into target/librdkafka-tests/ and prints its path.
#   scripts/librdkafka-tests.sh run BOOTSTRAP WORKDIR [test-runner args...]
#       Builds if needed, writes WORKDIR/test.conf pointing at BOOTSTRAP, runs the runner in
#       WORKDIR (it writes its stats files to the current directory) and leaves librdkafka's
#       JSON report in WORKDIR/report.json. Exit status is the runner's.
#       Environment: TESTS (default: every compiled test), QUICK (default 1: librdkafka's
#       quick mode -Q; QUICK=0 runs the non-quick parts too), SUBTESTS (one
#       substring a subtest name must contain), TEST_KAFKA_VERSION (default 4.1.0, the Kafka
#       version Rill speaks for), TEST_DEBUG (librdkafka `debug=`), as test.c reads them;
#       and SKIP_SUBTESTS ("substring=reason;..."), read by this runner's wrapper of
#       test_sub_start(): a subtest whose name ("function:line[: description]") contains a
#       substring is reported as skipped (test.c's "[ name: SKIP: reason ]") instead of run.
#
# Nothing is downloaded: the sources come from the librdkafka copy that the `rdkafka-sys`
# build script configured and compiled under target/release/build/rdkafka-sys-*/out (built by
# `cargo test --release --workspace --no-run`, through the `rdkafka` dev-dependency), and the
# runner links that build's static librdkafka.a.
#
# Only the test files in LIBRDKAFKA_TEST_FILES are compiled (a few seconds on two cores,
# instead of every one of ~190 C and C++ files). test.c's table names every test's
# `main_NNNN_name`, so the others get generated stubs that fail when run.
#
# 0098 (C++) needs RapidJSON's headers (Debian's rapidjson-dev, installed by
# scripts/setup-compat.sh): librdkafka's build here was configured without them, and without
# them 0098 only reports "RapidJSON >=1.1.0 not available". 0098 runs twice, once producing
# with Kafka's Java client (java/TransactionProducerCli.java, started through
# $KAFKA_PATH/bin/kafka-run-class.sh) and once with librdkafka's transactional producer. The
# Java half needs a Kafka distribution (its kafka-clients jar, which no package registry this
# project reaches serves) and a JVM, which the project does not use: the runner compiles a copy
# of 0098 in which that half runs only when KAFKA_PATH is set, and otherwise says
# "RILL-SKIP: ..." (unchanged, it would fail on test_run_java()'s -1 pid and then on the
# missing messages). The librdkafka half is compiled as it is.
#
# 0129 creates its topic with segment.bytes=20000, which Kafka 4.1 refuses as Rill does
# ("Value must be at least 1048576": KIP-1030 raised the minimum to 1 MiB, enforced for topic
# configs since KAFKA-19080). librdkafka's own later version of 0129 asks for 1048576; the
# runner compiles a copy with that value. Nothing else in 0129 changes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRIPT="$ROOT/scripts/librdkafka-tests.sh"
CACHE="$ROOT/target/librdkafka-tests"
# Test numbers to compile: issue 22's (0011, 0081) and issue 23's (0098, 0103, 0129).
LIBRDKAFKA_TEST_FILES=(0011 0081 0098 0103 0129)

die() {
  echo "librdkafka-tests: $*" >&2
  exit 1
}

# The rdkafka-sys out dir holding a built librdkafka.a; the newest build when there are several.
find_out_dir() {
  local best="" best_mtime=0 lib mtime
  for lib in "$ROOT"/target/release/build/rdkafka-sys-*/out/src/librdkafka.a; do
    [ -f "$lib" ] || continue
    mtime=$(stat -c %Y "$lib")
    if [ "$mtime" -gt "$best_mtime" ]; then
      best_mtime=$mtime
      best="${lib%/src/librdkafka.a}"
    fi
  done
  [ -n "$best" ] || die "no target/release/build/rdkafka-sys-*/out/src/librdkafka.a: run \`cargo test --release --workspace --no-run\` first"
  [ -f "$best/tests/test.c" ] && [ -f "$best/config.h" ] && [ -f "$best/Makefile.config" ] \
    || die "$best is not a configured librdkafka tree (no tests/test.c, config.h or Makefile.config)"
  echo "$best"
}

# Link libraries librdkafka was configured with (`LIBS+=` lines of Makefile.config).
config_libs() {
  sed -n 's/^LIBS+=[[:space:]]*//p' "$1/Makefile.config" | tr '\n' ' '
}

build() {
  local out tests sources f num name stamp_want
  out="$(find_out_dir)"
  tests="$out/tests"
  mkdir -p "$CACHE/obj"
  # Runs started together (compat/test_librdkafka.py starts two) build one at a time; the
  # lock goes with the subshell `run` calls this in.
  exec 9>"$CACHE/lock"
  flock 9

  sources=("$tests/test.c" "$tests/rusage.c" "$tests/sockem.c" "$tests/sockem_ctrl.c"
           "$out/src/tinycthread.c" "$out/src/tinycthread_extra.c" "$out/src/rdlist.c"
           "$tests/testcpp.cpp")
  for num in "${LIBRDKAFKA_TEST_FILES[@]}"; do
    f=$( (compgen -G "$tests/$num-*.c"; compgen -G "$tests/$num-*.cpp") || true)
    [ -n "$f" ] && [ "$(echo "$f" | wc -l)" = 1 ] || die "expected one test file $tests/$num-*.c or .cpp, found: ${f:-none}"
    sources+=("$f")
  done
  [ -f /usr/include/rapidjson/document.h ] \
    || die "0098 needs RapidJSON's headers (/usr/include/rapidjson): run scripts/setup-compat.sh (Debian's rapidjson-dev)"

  # Rebuild when the librdkafka tree, the compiled set, or this script changed.
  stamp_want="$out ${LIBRDKAFKA_TEST_FILES[*]} $(stat -c %Y "$SCRIPT" "$out/src/librdkafka.a" "$out/src-cpp/librdkafka++.a" "${sources[@]}" | tr '\n' ' ')"
  if [ -x "$CACHE/test-runner" ] && [ "$(cat "$CACHE/stamp" 2>/dev/null)" = "$stamp_want" ]; then
    echo "$CACHE/test-runner"
    return
  fi
  rm -f "$CACHE/test-runner" "$CACHE/stamp" "$CACHE"/obj/*.o

  # Stubs for every test test.c declares that is not compiled.
  local names stubs="$CACHE/obj/stubs.c"
  names=$(sed -n 's/^_TEST_DECL(\([0-9A-Za-z_]*\));.*/\1/p' "$tests/test.c")
  [ "$(echo "$names" | wc -l)" -gt 100 ] || die "could not read the test table of $tests/test.c"
  {
    echo "/* Generated by scripts/librdkafka-tests.sh: tests not compiled into this runner. */"
    echo "#include <stdio.h>"
    for name in $names; do
      case " ${LIBRDKAFKA_TEST_FILES[*]} " in
        *" ${name:0:4} "*) continue ;;
      esac
      echo "int main_$name(int argc, char **argv) {"
      echo "        (void)argc; (void)argv;"
      echo "        fprintf(stderr, \"test $name is not compiled into this runner (scripts/librdkafka-tests.sh)\\n\");"
      echo "        return 1;"
      echo "}"
    done
  } >"$stubs"

  # SKIP_SUBTESTS support: the test files call test_sub_start() (the SUB_TEST*() macros)
  # through this wrapper, which skips, with test.c's own SKIP report, every subtest whose
  # name ("function:line[: description]") contains one of the listed substrings.
  local skipper="$CACHE/obj/rill_skip.c"
  cat >"$skipper" <<'C'
/* Generated by scripts/librdkafka-tests.sh: SKIP_SUBTESTS="substring=reason;..." */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_sub_start(const char *func, int line, int is_quick, const char *fmt, ...);
void test_sub_skip(const char *fmt, ...);

int rill_test_sub_start(const char *func, int line, int is_quick, const char *fmt, ...) {
        char desc[256], name[512], reason[256];
        const char *spec, *entry, *end, *eq;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(desc, sizeof(desc), fmt ? fmt : "", ap);
        va_end(ap);
        if (!(*desc ? test_sub_start(func, line, is_quick, "%s", desc)
                    : test_sub_start(func, line, is_quick, "")))
                return 0;
        if (*desc)
                snprintf(name, sizeof(name), "%s:%d: %s", func, line, desc);
        else
                snprintf(name, sizeof(name), "%s:%d", func, line);

        spec = getenv("SKIP_SUBTESTS");
        for (entry = spec; entry && *entry; entry = *end ? end + 1 : end) {
                size_t plen;
                char pattern[256];
                end = strchr(entry, ';');
                if (!end)
                        end = entry + strlen(entry);
                eq   = memchr(entry, '=', (size_t)(end - entry));
                plen = (size_t)((eq ? eq : end) - entry);
                if (plen == 0 || plen >= sizeof(pattern))
                        continue;
                memcpy(pattern, entry, plen);
                pattern[plen] = '\0';
                if (!strstr(name, pattern))
                        continue;
                snprintf(reason, sizeof(reason), "%.*s", eq ? (int)(end - eq - 1) : 0,
                         eq ? eq + 1 : "");
                test_sub_skip("SKIP_SUBTESTS: %s", *reason ? reason : pattern);
                return 0;
        }
        return 1;
}
C

  # Copies of test files with the changes the top of this file lists: 0098 without its Java
  # half unless KAFKA_PATH is set; 0129 with a segment.bytes that Kafka 4.1 accepts.
  local i java_call='do_test_consumer_txn_test(true /* with java producer */);'
  for i in "${!sources[@]}"; do
    case "$(basename "${sources[$i]}")" in
      0098-*.cpp)
        [ "$(grep -cF "$java_call" "${sources[$i]}")" = 1 ] \
          || die "${sources[$i]}: expected one line calling $java_call"
        awk -v call="$java_call" '
          {
            line = $0
            sub(/^ +/, "", line)
            if (line != call) { print; next }
            indent = substr($0, 1, length($0) - length(line))
            print indent "/* scripts/librdkafka-tests.sh: the Java half only with KAFKA_PATH. */"
            print indent "if (getenv(\"KAFKA_PATH\"))"
            print indent "  " call
            print indent "else"
            print indent "  Test::Say(\"RILL-SKIP: consumer transaction tests using the java " \
                  "producer: KAFKA_PATH is not set (no Kafka distribution here)\\n\");"
          }' "${sources[$i]}" >"$CACHE/obj/$(basename "${sources[$i]}")"
        grep -q "RILL-SKIP" "$CACHE/obj/$(basename "${sources[$i]}")" || die "patching 0098 failed"
        sources[$i]="$CACHE/obj/$(basename "${sources[$i]}")"
        ;;
      0129-*.c)
        # Kafka 4.1 refuses a topic's segment.bytes under 1 MiB (KIP-1030; KAFKA-19080
        # enforced it per topic) and so does Rill; librdkafka's later 0129 asks for 1048576.
        [ "$(grep -c '"segment.bytes", "20000",' "${sources[$i]}")" = 1 ] \
          || die "${sources[$i]}: expected one \"segment.bytes\", \"20000\""
        sed 's/"segment.bytes", "20000",/"segment.bytes", "1048576", \/* KIP-1030 minimum *\//' \
          "${sources[$i]}" >"$CACHE/obj/$(basename "${sources[$i]}")"
        sources[$i]="$CACHE/obj/$(basename "${sources[$i]}")"
        ;;
    esac
  done

  # The flags of librdkafka's tests/Makefile, unoptimised (the runner is I/O bound; -O0
  # compiles fastest). The compilers are whatever built librdkafka (Makefile.config's CC, CXX).
  local cc cxx cflags pids=() pid obj fail=0
  cc=$(sed -n 's/^CC=[[:space:]]*//p' "$out/Makefile.config")
  cc=${cc:-cc}
  cxx=$(sed -n 's/^CXX=[[:space:]]*//p' "$out/Makefile.config")
  cxx=${cxx:-c++}
  cflags=(-g -O0 -fPIC -I"$out/src" -I"$tests")
  for f in "${sources[@]}" "$stubs" "$skipper"; do
    local extra=() comp=$cc base
    base=$(basename "$f")
    obj="$CACHE/obj/${base%.*}.o"
    case "$base" in
      *.cpp) comp=$cxx; extra=(-I"$out/src-cpp" -DWITH_RAPIDJSON=1 -Wno-non-virtual-dtor) ;;
      [0-9][0-9][0-9][0-9]-*.c) extra=(-Dtest_sub_start=rill_test_sub_start) ;;
    esac
    "$comp" "${cflags[@]}" "${extra[@]}" -c "$f" -o "$obj" &
    pids+=($!)
    # Two at a time: CI machines have two cores.
    if [ "${#pids[@]}" -ge 2 ]; then
      wait "${pids[0]}" || fail=1
      pids=("${pids[@]:1}")
    fi
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail=1; done
  [ "$fail" = 0 ] || die "compiling the runner failed"

  # shellcheck disable=SC2046 # LIBS is a list of flags
  "$cxx" -rdynamic "$CACHE"/obj/*.o "$out/src-cpp/librdkafka++.a" "$out/src/librdkafka.a" $(config_libs "$out") \
    -o "$CACHE/test-runner.tmp" || die "linking the runner failed"
  mv "$CACHE/test-runner.tmp" "$CACHE/test-runner"
  echo "$stamp_want" >"$CACHE/stamp"
  echo "$CACHE/test-runner"
}

run() {
  [ $# -ge 2 ] || die "usage: $0 run BOOTSTRAP WORKDIR [test-runner args...]"
  local bootstrap=$1 workdir=$2 runner
  shift 2
  runner="$(build)"
  mkdir -p "$workdir"
  workdir="$(cd "$workdir" && pwd)"
  cat >"$workdir/test.conf" <<EOF
# Written by scripts/librdkafka-tests.sh
bootstrap.servers=$bootstrap
EOF
  rm -f "$workdir/report.json"
  cd "$workdir"
  local IFS=,
  export TESTS="${TESTS:-${LIBRDKAFKA_TEST_FILES[*]}}"
  unset IFS
  export TEST_KAFKA_VERSION="${TEST_KAFKA_VERSION:-4.1.0}"
  export RDKAFKA_TEST_CONF="$workdir/test.conf"
  export TEST_REPORT="$workdir/report.json"
  # -Q quick mode (fewer messages, librdkafka's CI setting; QUICK=0 leaves it out), -E no
  # socket emulation tests.
  local quick=(-Q)
  [ "${QUICK:-1}" = 0 ] && quick=()
  exec "$runner" "${quick[@]}" -E "$@"
}

case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  *) die "usage: $0 build | run BOOTSTRAP WORKDIR [test-runner args...]" ;;
esac
