"""Trailhead Supply Co. assistant: pure-Python helpers shared by Rasa, the action
server and the handoff bridge (knowledge base, escalation detection), plus the
Rasa graph policy that acts on escalation signals."""
