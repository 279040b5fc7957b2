"""Documentation that users of the repository read: every reference resolves inside it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SHARED_SPEC = ROOT.parent / "shared" / "taxonomy.md"
DOCS = ["README.md", "model_card.md", "training/README.md", "training/authoring_brief.md", "training/data/real/README.md"]


@pytest.mark.parametrize("name", DOCS)
def test_no_document_points_outside_the_repository(name):
    text = (ROOT / name).read_text()
    assert "../shared" not in text and not re.search(r"(^|[\s`(\"'])/work/", text)  # no machine's absolute paths
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / name).parent.joinpath(target).exists(), f"{name} links to missing {target}"


@pytest.mark.skipif(not SHARED_SPEC.exists(), reason="the project's shared spec is not beside this checkout")
def test_the_taxonomy_in_docs_is_the_spec():
    assert (ROOT / "docs" / "taxonomy.md").read_text() == SHARED_SPEC.read_text()
    assert (ROOT / "docs" / "taxonomy_examples.jsonl").read_text() == SHARED_SPEC.with_name("taxonomy_examples.jsonl").read_text()
