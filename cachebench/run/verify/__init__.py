"""Verify: the HTTP-contract checks a target passes before it is measured (``verification.verify``),
their framework and the checks themselves, grouped by what they ask of the service."""
