"""Consumer-health topic rows from MedQuAD's MedlinePlus Health Topics (scripts/prepare_medquad.py): focus and
synonyms as lower-cased queries of the topic's summary, copies of evaluation texts dropped, provenance recorded; the
shipped rows are what the recipe reads."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers.evaluation import make_query_task
from helpers.paths import REPO_ROOT, load_module

from synthembed.configs import DataArguments
from synthembed.data import load_mixture

TOPIC = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="{id}" source="MPlusHealthTopics" url="https://medlineplus.gov/x.html">
<Focus>{focus}</Focus>
<FocusAnnotations><Category>Disease</Category><Synonyms>{synonyms}</Synonyms></FocusAnnotations>
<QAPairs><QAPair pid="1">
  <Question qid="{id}-1" qtype="information">Do you have information about {focus}</Question>
  <Answer>{answer}</Answer>
</QAPair></QAPairs>
</Document>"""


@pytest.fixture
def prepare():
    return load_module(REPO_ROOT / "scripts/prepare_medquad.py", "prepare_medquad")


def write_topics(folder, topics):
    folder.mkdir(parents=True)
    for i, (focus, synonyms, answer) in enumerate(topics):
        synonyms = "".join(f"<Synonym>{s}</Synonym>" for s in synonyms)
        (folder / f"{i:07d}.xml").write_text(TOPIC.format(id=i, focus=focus, synonyms=synonyms, answer=answer))


def test_focus_and_synonyms_query_the_summary_and_copies_of_evaluation_texts_are_left_out(prepare, tmp_path):
    write_topics(
        tmp_path / "src" / prepare.FOLDER,
        [
            ("A1C", ["HbA1C", "Glycohemoglobin", "hba1c"], "Summary : A1C is a   blood test for diabetes."),
            ("Energy Drinks", ["Caffeinated drinks"], "Energy drinks contain caffeine."),
        ],
    )
    task = make_query_task(tmp_path / "HandRetrieval", ["energy drinks"])
    out = tmp_path / "out"
    prepare.main(["--source", str(tmp_path / "src"), "--output_dir", str(out), "--decontamination_tasks", str(task)])
    rows = [json.loads(line) for line in (out / "topics.jsonl").read_text().splitlines()]
    # the heading "Summary :" and runs of spaces go; a synonym equal to the focus once lower-cased is one query;
    # "energy drinks" copies the evaluation query: dropped alone, its synonym kept
    assert [(r["query"], r["positive"]) for r in rows] == [
        ("a1c", "A1C is a blood test for diabetes."),
        ("hba1c", "A1C is a blood test for diabetes."),
        ("glycohemoglobin", "A1C is a blood test for diabetes."),
        ("caffeinated drinks", "Energy drinks contain caffeine."),
    ]
    assert {r["instruction"] for r in rows} == {prepare.INSTRUCTION}
    source = json.loads((out / "source.json").read_text())
    assert source["commit"] == prepare.COMMIT and source["topics"] == 2
    assert source["decontamination"]["HandRetrieval"]["rows_removed"] == 1


def test_a_bad_source_is_one_line(prepare, tmp_path):
    with pytest.raises(SystemExit, match=f"^error: .*{prepare.FOLDER}"):
        prepare.main(
            ["--source", str(tmp_path), "--output_dir", str(tmp_path / "out"), "--decontamination_tasks", "x"]
        )
    assert not (tmp_path / "out").exists()


def test_without_a_clone_the_folder_comes_from_one_archive_of_the_pinned_commit(prepare, monkeypatch):
    """GitHub's zip of the commit (served on loopback): the folder's files, not those of a folder inside it."""
    from synthembed_common import pinned_data

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        root = f"MedQuAD-{prepare.COMMIT}/{prepare.FOLDER}"
        archive.writestr(f"{root}/0000001.xml", TOPIC.format(id=1, focus="Acne", synonyms="", answer="Pimples."))
        archive.writestr(f"{root}/nested/0000002.xml", "not a topic")
        archive.writestr(f"MedQuAD-{prepare.COMMIT}/readme.txt", "MedQuAD")
    paths = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            paths.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(buffer.getvalue())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(pinned_data, "ARCHIVE_URL", f"http://127.0.0.1:{server.server_port}/{{repo}}/{{commit}}")
        files, stats = prepare.build(None, [])
    finally:
        server.shutdown()
        server.server_close()
    assert paths == [f"/{prepare.REPO}/{prepare.COMMIT}"]
    assert [(r["query"], r["positive"], r["topic"]) for r in files["topics.jsonl"]] == [
        ("acne", "Pimples.", "0000001.xml")
    ]
    assert stats["topics"] == 1


def test_the_shipped_rows_are_what_the_recipe_reads():
    folder = REPO_ROOT / "data/medquad"
    source = json.loads((folder / "source.json").read_text())
    rows = load_mixture(DataArguments(dataset_mixture=[{"path": str(folder / "topics.jsonl"), "name": "topics"}]))
    assert len(rows) == source["rows"]["topics.jsonl"] == 1779
    assert set(rows["instruction"]) == {source["instructions"]["topics.jsonl"]}
    assert source["topics"] == 981 and "NFCorpus" in source["decontamination"]
