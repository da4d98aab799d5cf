"""Analysis: is the new version healthy? Providers observe, judges decide, verdicts explain.

- ``providers/`` — where an observation comes from, one module each behind ``Provider``:
  ``prometheus`` (PromQL over the HTTP API), ``http`` (smoke requests), ``command`` (the
  user's test command and its JUnit XML).
- ``judge`` — a measurement against a rule (``< 0.1%``) and the no-data policy → a ``Verdict``;
  the limits (failures and errors in a row) of a running analysis.
- ``mannwhitney`` — canary against baseline (Kayenta's approach), beside the absolute rules.
- ``report`` — verdicts as log lines, a Markdown table and a text block.

Every verdict says which check, which rendered query, which value, which rule, how many
samples, and why: nobody is blocked by a verdict they cannot read.
"""
