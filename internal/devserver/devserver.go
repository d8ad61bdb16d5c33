package devserver

import (
	_ "github.com/temporalio/cli/temporalcli/devserver"
)
