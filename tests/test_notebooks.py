"Every notebook in nbs/ runs top to bottom with its inline fastcore tests, each in its own process, as `nbdev_test` does."
import subprocess, sys
import pytest
from conftest import ROOT

NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts)
RUN = ("import sys; from pathlib import Path; from nbdev.test import test_nb; "
       "ok, _ = test_nb(Path(sys.argv[1]), skip_flags=['notest', 'slow'], do_print=False, showerr=True); sys.exit(0 if ok else 1)")

@pytest.mark.parametrize('nb', NBS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NBS])
def test_notebook(nb):
    p = subprocess.run([sys.executable, '-c', RUN, str(nb)], cwd=nb.parent, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{nb.name} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
