"""`kubectl modelrollout`: a kubectl plugin to list, watch, command and report ModelRollouts.

Pure rendering (facts, text, view, report, outcome, errors) is separate from the I/O (kube,
app), so every view is tested without a cluster.
"""
