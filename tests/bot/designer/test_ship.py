"""bot.designer.ship against the real Rasa server: a conversation in progress
survives loading a new model file through PUT /model."""
from __future__ import annotations

import shutil

from bot.designer import ship as ship_module
from tests.support.rasa_stack import MODEL_PATH, RasaStack, request


def _say(url: str, token: str, sender: str, text: str) -> list[dict]:
    status, replies = request("POST", f"{url}/webhooks/rest/webhook?token={token}",
                              {"sender": sender, "message": text}, timeout=120)
    assert status == 200, replies
    return replies


def test_ship_swaps_the_model_of_the_running_rasa_without_dropping_conversations(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ship_module, "PROJECT_ROOT", tmp_path)  # release copy under tmp_path/models/shipped
    candidate = tmp_path / "candidate.tar.gz"
    shutil.copy(MODEL_PATH, candidate)
    with RasaStack() as (url, token):
        _, before = request("GET", f"{url}/status?token={token}")
        assert _say(url, token, "designer-1", "hi"), "the bot did not greet"

        info = ship_module.main(["--rasa-url", url, "--token", token, "--model", str(candidate)]) or \
            request("GET", f"{url}/status?token={token}")[1]

        assert info["model_file"] != before["model_file"]
        assert info["model_file"].startswith("supportline-") or "shipped" in info["model_file"]
        assert "from start to live" in capsys.readouterr().out
        replies = _say(url, token, "designer-1", "what are your opening hours?")
        assert replies and any("text" in r for r in replies)
        status, tracker = request("GET", f"{url}/conversations/designer-1/tracker?token={token}")
        assert status == 200
        user_texts = [e.get("text") for e in tracker["events"] if e.get("event") == "user"]
        assert user_texts[:1] == ["hi"] and "what are your opening hours?" in user_texts
