"""Lists and reports for people: the monthly report, list and deduction files, charts, workbooks."""
