"""Call records (issue 12): the call store, its migrations, the recorder that writes off the call path, and reads.

Shared by the gateway (which records), the CLI and the console (which read), so it lives in `services.common`
and no service imports another's package. Import the module you need (`records.recorder`, `records.queries`,
`records.schema`); this package imports nothing itself, so `services.common` stays light for services that
never touch the store.
"""
