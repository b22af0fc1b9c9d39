"The model zoo is reachable through `cgankd.models` alone, in a fresh interpreter, whichever module is imported first."
import subprocess, sys, os
from conftest import ROOT

def _py(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    p = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout

def test_zoo_registered_lazily_through_models():
    out = _py("import sys, torch\n"
              "from cgankd.models import create_model, list_models, count_params\n"
              "assert 'cgankd.zoo' not in sys.modules\n"
              "m = create_model('wrn_40_2', num_classes=100, in_channels=3, img_size=32)\n"
              "assert 'cgankd.zoo' in sys.modules\n"
              "r = create_model('resnet20', in_channels=1, img_size=64, task='regression').eval()\n"
              "print(count_params(m), tuple(r(torch.zeros(2, 1, 64, 64)).shape), len(list_models()))")
    n, shape, n_models = out.split(' ', 1)[0], out.split(' ', 1)[1].rsplit(' ', 1)[0], int(out.split()[-1])
    assert n == '2255156' and shape == '(2, 1)', out
    assert n_models >= 26 + 4

def test_list_models_sees_zoo_and_zoo_imports_first():
    out = _py("import cgankd.zoo as z\nfrom cgankd.models import list_models\n"
              "names = list_models(); missing = [n for n in z.zoo_names() if n not in names]\n"
              "assert not missing, missing\nassert {'cnn_small', 'mlp'} <= set(names)\nprint(len(z.zoo_names()))")
    assert out.strip() == '26'

def test_unknown_name_lists_zoo():
    out = _py("from cgankd.models import create_model\nfrom cgankd.core import UnknownNameError\n"
              "try: create_model('resnet9000')\nexcept UnknownNameError as e: print(e)")
    assert 'resnet110' in out and 'densenet161' in out and 'cnn_small' in out
