"Every notebook in nbs/ runs top to bottom with its inline fastcore tests, as `nbdev_test` does."
from pathlib import Path
import pytest
from nbdev import test as nbtest
from conftest import ROOT

NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if not p.name.startswith('_') and '.ipynb_checkpoints' not in p.parts)

@pytest.mark.parametrize('nb', NBS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NBS])
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(nb.parent)
    ok, _ = nbtest.test_nb(nb, skip_flags=['notest', 'slow'], do_print=False, showerr=True)
    assert ok, f"{nb.name} failed; run `nbdev_test --path {nb}` for details"
