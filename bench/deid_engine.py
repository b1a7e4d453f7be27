"""The de-identification engine's byte way alone, for a count of instructions that other
work on the machine does not change (valgrind's callgrind); figures in docs/benchmarks.md
("De-identification").

``make DIR`` writes 300 synthetic MR instances of 132 kB (256 x 256 x 16-bit pixels, a
real pydicom header: the files of bench/deid_archive.py) into DIR; ``run DIR N`` puts
the first N through ``fast.deidentify`` with the Basic profile, in memory, output joined
and dropped. Instructions per instance are the difference of two runs over their
difference in N, which leaves out the interpreter's start and the imports::

    .venv/bin/python bench/deid_engine.py make /dev/shm/deid-engine
    for n in 40 200; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/deid_engine.py run /dev/shm/deid-engine $n 2>&1 | grep refs
    done   # (refs at 200 - refs at 40) / 160 = instructions per instance
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from scandepot.deid import fast, scripts
from scandepot.deid.model import Keys, Run
from scandepot.deid.profile import Profile
from scandepot.dicom.synthetic import Series, Study, mr_instance, to_bytes

FILES = 300


def make(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    study = Study(StudyDescription="xnat://BENCH/sub-01/ses-01")
    series = [Series(n, f"series {n}") for n in range(1, 5)]
    for number in range(FILES):
        ds = mr_instance(study, series[number % 4], number + 1, seed=number)
        (folder / f"{number:04d}.dcm").write_bytes(to_bytes(ds))


def run(folder: Path, count: int) -> None:
    files = [path.read_bytes() for path in sorted(folder.glob("*.dcm"))[:count]]
    script = scripts.load("profile", '{"options": []}')
    assert isinstance(script, Profile)
    params = {"PROJECT": "BENCH", "SUBJECT": "sub", "SESSION": "ses"}
    one = Run(Keys(b"k" * 32), params)  # one run for a session, as archiving makes
    warnings.simplefilter("ignore")
    for data in files:
        b"".join(fast.deidentify(script, one, data).chunks)


def main() -> None:
    what, folder = sys.argv[1], Path(sys.argv[2])
    if what == "make":
        make(folder)
    else:
        run(folder, int(sys.argv[3]))


if __name__ == "__main__":
    main()
