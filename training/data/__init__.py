"""Files in, checked examples out, no torch: the upload readers per task, the dataset catalogue and
the splits."""
