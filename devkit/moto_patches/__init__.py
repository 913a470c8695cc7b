"""Emulator-side glue for gaps in moto, one module per area.

Each module defines `apply()`, which must be idempotent and guarded (check the moto behaviour it
works around, so it turns into a no-op when moto fixes the gap). Every patch has a test in
`tests/devkit/` that fails when the upstream gap is fixed, so the glue can be deleted.
"""
