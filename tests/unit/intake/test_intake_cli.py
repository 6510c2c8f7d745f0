"""intake commands that need no server, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.intake.record_files import load_record

REPO = Path(__file__).resolve().parents[3]
POLICY = str(REPO / "examples" / "policy.yaml")


def test_template_to_file_validates_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "ft.yaml"
    assert main(["intake", "template", "--class", "fine_tune", "-o", str(out)]) == ExitCode.OK
    assert load_record(out).artifact_class == "fine_tune"
    assert main(["intake", "validate", str(out), "--policy", POLICY]) == ExitCode.OK
    assert main(["intake", "template", "--class", "fine_tune", "-o", str(out)]) == ExitCode.ERROR


def test_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    thin = tmp_path / "thin.yaml"
    thin.write_text("artifact_class: base_model\nowner: me\n")
    assert main(["intake", "validate", str(thin)]) == ExitCode.OK
    assert main(["intake", "validate", str(thin), "--policy", POLICY]) == ExitCode.DENIED
    assert "source_url" in capsys.readouterr().err
    thin.write_text("artifact_class: base_model\nowner: me\nlicense: {id: Llama-3}\n")
    assert main(["intake", "validate", str(thin)]) == ExitCode.ERROR
    assert f"{thin}:3 license.id" in capsys.readouterr().err


def test_licenses_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["intake", "licenses"]) == ExitCode.OK
    assert "gemma" in capsys.readouterr().out
    assert main(["intake", "licenses", "CC-BY-NC-4.0"]) == ExitCode.OK
    assert "commercial use:       no" in capsys.readouterr().out
    assert main(["intake", "licenses", "Not-A-License"]) == ExitCode.ERROR


def _labelled_fields(template: str) -> dict[str, str]:
    """Dotted field name -> its label ('optional' or the flags) from a rendered template."""
    labels: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing sections
    lines = template.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            if (stripped.startswith("# ") and stripped.endswith("]") and "[" in stripped
                    and not lines[i + 1].lstrip().startswith("#")):  # not commented out
                indent = len(lines[i + 1]) - len(lines[i + 1].lstrip())
                key = lines[i + 1].strip().split(":", 1)[0]
                parents = [k for d, k in stack if d < indent]
                labels[".".join([*parents, key])] = stripped.rsplit("[", 1)[1][:-1]
            continue
        indent = len(line) - len(line.lstrip())
        stack = [(d, k) for d, k in stack if d < indent]
        if stripped.split("#", 1)[0].rstrip().endswith(":"):
            stack.append((indent, stripped.split(":", 1)[0]))
    return labels


def _without(data: dict, name: str) -> dict:
    import copy

    result = copy.deepcopy(data)
    *parents, leaf = name.split(".")
    node = result
    for key in parents:
        node = node[key]
    node.pop(leaf)
    return result


@pytest.mark.parametrize("cls", ["base_model", "fine_tune", "adapter", "embedding_model",
                                 "reranker", "tokenizer", "preprocessor"])
def test_template_labels_match_what_validate_and_the_gate_need(tmp_path, capsys, cls) -> None:
    """[optional] fields can go and the record still passes validate --policy (which runs the
    gate's own intake checks); every '[policy requires]' field is needed by it."""
    import yaml

    from mlflow_supplychain.intake.templates import render_template
    from mlflow_supplychain.policy.loader import load_policy

    text = render_template(__import__("mlflow_supplychain.intake.fields", fromlist=["x"])
                           .ArtifactClass(cls), load_policy(POLICY))
    data = yaml.safe_load(text)
    record = tmp_path / "r.yaml"
    for name, label in _labelled_fields(text).items():
        record.write_text(yaml.safe_dump(_without(data, name)))
        code = main(["intake", "validate", str(record), "--policy", POLICY])
        err = capsys.readouterr().err
        if label == "optional":
            assert code == ExitCode.OK, (name, err)
        elif "policy requires" in label and "required" not in label:
            assert code != ExitCode.OK and name in err, (name, label, err)


def test_validate_checks_the_profile_of_the_target(tmp_path, capsys) -> None:
    """A preprocessor record without source_sha256 passed validate and was refused by the gate
    for hash.missing: validate now runs the gate's checks for each profile, or --target's."""
    import yaml

    from mlflow_supplychain.intake.fields import ArtifactClass
    from mlflow_supplychain.intake.templates import render_template

    data = yaml.safe_load(render_template(ArtifactClass.PREPROCESSOR))
    data.pop("source_sha256")
    record = tmp_path / "pre.yaml"
    record.write_text(yaml.safe_dump(data))
    assert main(["intake", "validate", str(record), "--policy", POLICY]) == ExitCode.DENIED
    assert "hash.missing [source_sha256]" in capsys.readouterr().err
    assert main(["intake", "validate", str(record), "--policy", POLICY,
                 "--target", "production"]) == ExitCode.DENIED
    # the staging profile does not check hashes
    assert main(["intake", "validate", str(record), "--policy", POLICY,
                 "--target", "staging"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["intake", "validate", str(record), "--policy", POLICY,
                 "--target", "dev"]) == ExitCode.ERROR
    assert "not protected" in capsys.readouterr().err


def test_validate_refuses_a_license_outcome_the_policy_does_not_accept(tmp_path, capsys) -> None:
    import yaml

    from mlflow_supplychain.intake.fields import ArtifactClass
    from mlflow_supplychain.intake.templates import render_template

    data = yaml.safe_load(render_template(ArtifactClass.BASE_MODEL))
    data["license"]["outcome"] = "rejected"
    record = tmp_path / "r.yaml"
    record.write_text(yaml.safe_dump(data))
    assert main(["intake", "validate", str(record), "--policy", POLICY]) == ExitCode.DENIED
    assert "license.outcome" in capsys.readouterr().err


def test_in_house_recipe_hashes_the_saved_model_and_the_gate_accepts_them(
        tmp_path, capsys) -> None:
    """A model trained in-house: `intake hashes DIR` before logging DIR gives source_sha256;
    validate accepts the record and the gate finds the declared files in the manifest."""
    import yaml

    from mlflow_supplychain.intake.fields import ArtifactClass
    from mlflow_supplychain.intake.records import record_to_fields
    from mlflow_supplychain.intake.templates import render_template
    from mlflow_supplychain.integrity.manifest import build_manifest
    from mlflow_supplychain.policy.engine import evaluate
    from mlflow_supplychain.policy.evidence import ArtifactEvidence, Evidence, Target
    from mlflow_supplychain.policy.loader import load_policy

    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.pkl").write_bytes(b"weights")
    (model / "sub" / "1234").write_bytes(b"x")
    assert main(["intake", "hashes", str(model)]) == ExitCode.OK
    block = yaml.safe_load(capsys.readouterr().out)["source_sha256"]
    assert set(block) == {"model.pkl", "sub/1234"}
    assert all(isinstance(v, str) and len(v) == 64 for v in block.values())
    assert main(["intake", "hashes", str(model), "--only", "model.pkl", "--format",
                 "tag"]) == ExitCode.OK
    assert set(json.loads(capsys.readouterr().out)) == {"model.pkl"}
    assert main(["intake", "hashes", str(model), "--only", "missing.bin"]) == ExitCode.ERROR

    data = yaml.safe_load(render_template(ArtifactClass.PREPROCESSOR))
    data["source_sha256"] = block
    record = tmp_path / "record.yaml"
    record.write_text(yaml.safe_dump(data))
    assert main(["intake", "validate", str(record), "--policy", POLICY]) == ExitCode.OK

    manifest = build_manifest(model)
    evidence = Evidence(model_name="m", version="1",
                        intake=record_to_fields(load_record(record)),
                        # the promotion-time re-hash of the same bytes gives the same digest
                        artifacts=ArtifactEvidence(digest=manifest.digest, files={
                            e.path: e.sha256 for e in manifest.files},
                            reverified_digest=manifest.digest))
    decision = evaluate(load_policy(POLICY), evidence, Target.parse("production"))
    assert not [v for v in decision.violations if v.code.startswith("hash.")]


def test_hashes_refuses_a_symlink(tmp_path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "link").symlink_to("/etc/hostname")
    assert main(["intake", "hashes", str(model)]) == ExitCode.DENIED
