from tm_common.migrations import run_env
from tm_files.adapters.tables import metadata

run_env(metadata)
