// k3s-template BASE [TEMPLATE] [RUNTIME...]: what a k3s agent writes as its containerd config, with
// Go's text/template as k3s renders it (pkg/agent/containerd/config.go): TEMPLATE, a user's
// config-v3.toml.tmpl, executed with BASE defined as the template "base"; BASE alone when TEMPLATE is
// "-" (no user template on the node). Each RUNTIME is a shim k3s found on the node's PATH
// (pkg/agent/containerd/runtimes.go), NAME=RUNTIME_TYPE=BINARY, given to the templates as
// .ExtraRuntimes. scripts/test-cluster runs it for every node of make cluster on k3d.
package main

import (
	"fmt"
	"os"
	"strings"
	"text/template"
)

type runtime struct{ RuntimeType, BinaryName string }

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: k3s-template BASE TEMPLATE|- [NAME=RUNTIME_TYPE=BINARY...]")
		os.Exit(2)
	}
	data := struct {
		ExtraRuntimes map[string]runtime
		SystemdCgroup bool
	}{ExtraRuntimes: map[string]runtime{}}
	for _, arg := range os.Args[3:] {
		parts := strings.SplitN(arg, "=", 3)
		data.ExtraRuntimes[parts[0]] = runtime{parts[1], parts[2]}
	}
	root := template.New("config")
	template.Must(root.New("base").Parse(read(os.Args[1])))
	name := "base"
	if os.Args[2] != "-" {
		template.Must(root.New("user").Parse(read(os.Args[2])))
		name = "user"
	}
	if err := root.ExecuteTemplate(os.Stdout, name, data); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func read(path string) string {
	content, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return string(content)
}
