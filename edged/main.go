// Command edged is the edge relay daemon and its control CLI; see package
// edgelab/edged/cli.
package main

import (
	"os"

	"edgelab/edged/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
