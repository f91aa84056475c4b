"""The gradebook's columns and verdicts: one list for the judge, the CSV files and the pages."""

# gradebook.csv: a row per student and target
COLUMNS = ("student", "file", "target", "kind", "verdict", "worst_error", "diagnosis", "seconds")
# summary.csv: a row per student ("errors" counts error, timeout, killed and usage)
SUMMARY_COLUMNS = ("student", "passed", "failed", "not_implemented", "errors", "seconds")
VERDICTS = ("pass", "fail", "not_implemented", "error", "timeout", "killed", "usage")
