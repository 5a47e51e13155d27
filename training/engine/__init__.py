"""The one accelerate loop and what it runs on: the base model, how much of it trains, the speed-ups
(one file each), the tokenized cache and what a run will cost."""
