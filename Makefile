# Trailhead Supply Co. support front line. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
RASA := .venv-rasa/bin/rasa

.PHONY: help setup run cluster cluster-ship test train validate review ship analytics-csv test-bot bench agent screenshots clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

setup: ## Install the Python environments (bot on 3.10, bridge on the current Python)
	bash scripts/setup.sh

run: ## Run the whole system (bot, actions, bridge, widget page, agent console)
	bash scripts/run.sh

cluster: ## Run the cluster profile: nginx, two bridges, two Rasa servers, Redis, PostgreSQL (docs/deploy.md)
	bash scripts/cluster.sh

cluster-ship: ## Roll a new model out to the running cluster, one Rasa server at a time (no downtime)
	bash scripts/cluster-ship.sh

test: ## Run every test (installs what is missing, trains the model if needed)
	bash scripts/test.sh

train: ## Train the model (skipped when data and config did not change)
	bash scripts/train.sh

validate: setup ## Check the training data (rasa data validate plus the designer checks, with file:line)
	.venv-rasa/bin/python -m bot.designer.validate

review: setup ## Export review candidates from the running bridge: make review SINCE=7d TOKEN=...
	.venv-bridge/bin/python -m bot.designer.review --since $(or $(SINCE),7d) --token "$(TOKEN)" --out review/candidates.yml

ship: setup ## Train and load the new model into the running Rasa without a restart
	.venv-rasa/bin/python -m bot.designer.ship

analytics-csv: setup ## Dashboard numbers as CSV, one row a day: make analytics-csv SINCE=30d TOKEN=...
	.venv-bridge/bin/python -m bot.designer.analytics_csv --since $(or $(SINCE),7d) --token "$(TOKEN)" --out review/analytics.csv

test-bot: train ## Run the test stories and NLU evaluation with rasa test
	$(RASA) test --model models/supportline.tar.gz --stories tests/bot/test_stories.yml --nlu tests/bot/heldout_nlu.yml --out results

bench: setup ## Run the benchmarks and update docs/benchmarks.md
	bash bench/run.sh

agent: setup ## Add an agent account: make agent NAME=alice
	.venv-bridge/bin/python -m handoff.agents add $(NAME)

screenshots: setup ## Refresh the screenshots in docs/screenshots (real browser)
	SUPPORTLINE_SCREENSHOTS=docs/screenshots .venv-bridge/bin/python -m pytest -q tests/widget/test_screenshots.py

clean: ## Remove trained models, results and local state (not the environments)
	rm -rf models results var .rasa
