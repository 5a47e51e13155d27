"""What the loop trains: one adapter per task (classification, NER, QA), its metrics and report, and
the one task registry that everything else asks."""
