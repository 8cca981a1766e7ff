// Command gen writes package schemas' generated row codecs; run it with
// go generate in the schemas directory.
package main

import (
	"fmt"
	"os"

	"github.com/callstream/callstream/schemas/internal/codegen"
)

func main() {
	files, err := codegen.Generate(".")
	if err == nil {
		err = codegen.WriteFiles(".", files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "codegen:", err)
		os.Exit(1)
	}
}
