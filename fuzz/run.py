"""Run one fuzz target under atheris (coverage-guided libFuzzer): `python fuzz/run.py NAME [libFuzzer flags]`.

Examples:
    python fuzz/run.py rlp -runs=1000000                 # mutate from the kept corpus
    python fuzz/run.py envelope -max_total_time=300
    python fuzz/run.py --list
    python fuzz/run.py rlp -merge=1                      # keep found inputs that add coverage

The kept corpus `fuzz/corpus/NAME/` is read first; new coverage-increasing inputs go to
`fuzz/corpus/.work/NAME/` (not kept: merge the interesting ones by hand), crashes to
`fuzz/crashes/NAME-…` (FUZZ_WORK_DIR and FUZZ_CRASH_DIR move them). Target `all` runs every
target behind one selector byte. hush is instrumented, the harness itself and the dependencies are not.
Needs `pip install -e '.[fuzz]'` (atheris); the corpus replay in tests/fuzz/ does not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> None:
    import atheris  # noqa: PLC0415 - optional: only the long runs need it

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["hush"]):
        import fuzz_targets  # noqa: PLC0415 - imported under instrumentation

    if len(argv) < 2 or argv[1] in ("-h", "--help", "--list"):
        print(__doc__)
        print("targets:", " ".join(fuzz_targets.TARGETS))
        return
    if argv[1].startswith("-"):  # libFuzzer's -merge re-runs this script with flags only
        name, flags = os.environ["FUZZ_TARGET"], argv[1:]
    else:
        name, flags = argv[1], argv[2:]
    os.environ["FUZZ_TARGET"] = name
    target = fuzz_targets.TARGETS[name]
    work_root = Path(os.environ.get("FUZZ_WORK_DIR", HERE / "corpus" / ".work"))
    work = work_root / name
    work.mkdir(parents=True, exist_ok=True)
    crashes = Path(os.environ.get("FUZZ_CRASH_DIR", HERE / "crashes"))
    crashes.mkdir(parents=True, exist_ok=True)
    defaults = [
        f"-max_len={target.max_len}",
        "-timeout=10",  # seconds per input: a hang is a finding
        "-rss_limit_mb=2048",
        f"-artifact_prefix={crashes}/{name}-",
    ]
    dictionary = HERE / "dicts" / f"{name}.dict"
    if dictionary.exists():
        defaults.append(f"-dict={dictionary}")
    given = {flag.split("=")[0] for flag in flags}
    flags = [flag for flag in defaults if flag.split("=")[0] not in given] + flags
    if name == "all":  # every kept corpus, each input behind its target's selector byte
        seeds = work_root / "all-seeds"
        seeds.mkdir(exist_ok=True)
        for index, sub in enumerate(fuzz_targets.ALL):
            for path in sorted((HERE / "corpus" / sub).iterdir()):
                (seeds / f"{sub}-{path.name}").write_bytes(bytes((index,)) + path.read_bytes())
        corpora = [str(work), str(seeds)]
    elif "-merge=1" in flags:  # keep what adds coverage: found inputs into the kept corpus
        corpora = [str(HERE / "corpus" / name), str(work)]
    else:
        corpora = [str(work), str(HERE / "corpus" / name)]
    if any(flag.startswith("-merge_inner") for flag in flags):
        corpora = []  # the inner run of a merge is told its inputs by the control file
    # libFuzzer runs argv[0] through the shell for -merge: make it this interpreter and script.
    self_command = f"{sys.executable} {Path(__file__).resolve()}"
    atheris.Setup([self_command, *flags, *corpora], target.run)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
