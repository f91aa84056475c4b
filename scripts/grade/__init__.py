"""``cs231n-grade``: a whole class's gradients checked, each student in a sandbox, on Ray.

The modules: ``command`` (the command line and the run), ``judge`` (one student: the
oracle's checks with the student's code in another process), ``sandbox`` (bubblewrap and
the resource limits), ``unpack`` (submissions taken in safely), ``gradebook`` (the CSV
files, resuming), ``columns`` (their columns and the verdicts) and ``site``
(``index.html`` and a page per student).
"""
