"""Replay kept corpora (or any files) through their targets without atheris or pytest.

    python fuzz/replay.py                      # every target, its kept corpus
    python fuzz/replay.py envelope rlp         # some targets
    python fuzz/replay.py envelope FILE ...    # given inputs (a crash file, say)
    coverage run --source=hush fuzz/replay.py envelope && coverage report   # line coverage

Prints, per target, the inputs run, the time taken and any input that broke the property.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_targets


def main(argv: list[str]) -> int:
    names = [arg for arg in argv if arg in fuzz_targets.TARGETS] or fuzz_targets.ALL
    files = [Path(arg) for arg in argv if arg not in fuzz_targets.TARGETS]
    failed = 0
    for name in names:
        inputs = files or sorted(p for p in (fuzz_targets.CORPUS / name).iterdir() if p.is_file())
        start = time.perf_counter()
        for path in inputs:
            try:
                fuzz_targets.TARGETS[name].run(path.read_bytes())
            except Exception:
                failed += 1
                print(f"{name}: {path}:", file=sys.stderr)
                traceback.print_exc()
        elapsed = time.perf_counter() - start
        print(f"{name}: {len(inputs)} inputs in {elapsed:.2f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
