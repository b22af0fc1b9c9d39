"Keyed sub-stages: a changed setting retrains exactly the networks that depend on it (checked on the checkpoint files), and a YAML config file gives the same run as the same settings given with --set."
import json, os
from pathlib import Path
import pytest
from conftest import run_cli, comparable

# a few seconds per run: every stage runs, at toy sizes
FAST = ['--preset', 'smoke', '--quiet', '--set', 'teacher.steps=20', '--set', 'gan.steps=10', '--set', 'dre.steps=10',
        '--set', 'dre.feature_steps=10', '--set', 'student.steps=10', '--set', 'student.archs=["cnn_small"]',
        '--set', 'bank.n_fake=100', '--set', 'bank.max_samples=2000']

def stamps(out:Path) -> dict:
    "Modification time of every network checkpoint of a run, by path."
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob('*.pt') if 'ckpt' not in p.name}

def test_feature_steps_retrains_feature_and_ratio_only(tmp_path):
    out = tmp_path/'run'
    run_cli('run', '--out', out, *FAST)
    before = stamps(out)
    p = run_cli('run', '--out', out, *FAST, '--set', 'dre.feature_steps=12')
    after = stamps(out)
    changed = {k for k in before if after[k] != before[k]}
    assert {'dre/feature/model.pt', 'dre/ratio.pt'} <= changed, changed
    assert not changed & {'teacher/model.pt', 'gan/G_ema.pt', 'gan/G.pt', 'gan/D.pt'}, changed
    assert '[teacher] done, reusing' in p.stdout and '[gan] done, reusing' in p.stdout and '[dre/feature] training' in p.stdout

def test_y2h_steps_retrains_y2h_and_gan(tmp_path):
    out = tmp_path/'reg'
    reg = [*FAST, '--task', 'regression', '--set', 'gan.embed_steps=10', '--set', 'gan.y2h_steps=10', '--set', 'student.archs=["mlp"]',
           '--set', 'bank.n_grid=5']
    run_cli('run', '--out', out, *reg)
    before = stamps(out)
    assert {'gan/y2h/y2h.pt', 'dre/feature/model.pt'} <= set(before)
    p = run_cli('run', '--out', out, *reg, '--set', 'gan.y2h_steps=12')
    after = stamps(out)
    changed = {k for k in before if after[k] != before[k]}
    assert {'gan/y2h/y2h.pt', 'gan/G_ema.pt', 'dre/ratio.pt'} <= changed, changed  # the ratio model reads y2h and G
    assert not changed & {'teacher/model.pt', 'dre/feature/model.pt'}, changed  # the SAE does not depend on the label embedding
    assert '[teacher] done, reusing' in p.stdout and '[dre/feature] done, reusing' in p.stdout

def test_yaml_config_file_equals_set_flags(tmp_path):
    sets = [*FAST, '--set', 'seed=3', '--set', 'select.rho=0.8']
    yml = run_cli('config', *sets).stdout
    (tmp_path/'c.yaml').write_text(yml)
    assert 'rho: 0.8' in yml and 'seed: 3' in yml
    run_cli('run', '--out', tmp_path/'a', *sets)
    run_cli('run', '--out', tmp_path/'b', '--config', tmp_path/'c.yaml', '--quiet')
    ra, rb = (json.loads((tmp_path/d/'report.json').read_text()) for d in 'ab')
    assert comparable(ra) == comparable(rb)
    assert json.loads((tmp_path/'a'/'config.json').read_text()) == json.loads((tmp_path/'b'/'config.json').read_text())

def test_widget_on_recipe_run_sees_the_pipelines_images(tmp_path):
    "A widget opened on a recipe run (CIFAR-100 from --data-root at the paper GAN's 32x32) loads the very images the pipeline trained on."
    import numpy as np
    from test_recipes import _cifar100
    from cgankd.widgets import RunView, SampleBrowser
    data, out = tmp_path/'data', tmp_path/'run'
    data.mkdir(); _cifar100(data, np.random.default_rng(0))
    run_cli('run', '--recipe', 'cifar100', '--data-root', data, '--smoke', '--out', out, '--quiet')
    trained = json.loads((out/'data.json').read_text())
    view = RunView(out)
    assert view.real.images.shape[1:] == (3, 32, 32)
    assert view.real.fingerprint() == trained['sha256']  # the same arrays, byte for byte
    assert SampleBrowser.from_run(out).view.real is not None
