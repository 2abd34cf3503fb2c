from tm_activity.adapters.tables import metadata
from tm_common.migrations import run_env

run_env(metadata)
