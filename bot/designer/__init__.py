"""Conversation designer's tools: validate the training data, export review
candidates from live conversations, and ship a new model to the running bot.
See docs/designers.md."""
