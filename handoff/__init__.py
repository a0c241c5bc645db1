"""The handoff bridge: visitors, the Rasa assistant and human agents on one Socket.IO server."""
