"""The support eval against its recorded real-model answers: no model server, deterministic.

`recordings/support.json` is the record of `stepladder eval evalsets/support.yaml --split test
--limit 8` on the embedded SmolLM2 model. The replay is hermetic: a node whose spec, compiled
prompt, tier model or inputs changed since the recording fails the test, naming the node and
what changed; record again (the eval records by default) and copy
`.stepladder/records/RUN_ID.json` here.
"""

from pathlib import Path

from stepladder.replay import load_record
from stepladder.testing import replay_eval

PROJECT = Path(__file__).resolve().parents[1]
RECORDING = PROJECT / "recordings" / "support.json"


def test_the_support_eval_replays_its_recording_hermetically() -> None:
    result = replay_eval(PROJECT / "evalsets" / "support.yaml", RECORDING, split="test", limit=8)
    assert not result.failed
    assert result.replay is not None and result.replay["total"]["ran"] == 0
    recorded = {
        (call.case, key): value
        for call in load_record(RECORDING).calls
        for key, value in call.outputs.items()
    }
    for case in result.results:
        for key in ("category", "entity_type", "entity_value", "reply"):
            assert case.outputs[key] == recorded[(case.case_id, key)]
    assert result.metric("category").mean >= 0.75
