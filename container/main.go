// Command go-time-service is the book's Go time service, written here from its description: net/http
// with the default mux, encoding/json's encoder, log.Print on every call, listening on :8080. It is
// the container `make push-container` builds and `make deploy-container` runs beside the component,
// and a subject of `make bench`, which passes a listen address to pick a free port.
//
//	go-time-service [127.0.0.1:8080]
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	addr := ":8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	// Every call is logged to stdout, as in the chapter (kubectl logs), and as the component does.
	log.SetOutput(os.Stdout)
	http.HandleFunc("/time", func(w http.ResponseWriter, r *http.Request) {
		log.Print(r.Method, " ", r.URL.Path)
		// UTC, as the chapter's output shows it; UTC() also drops the monotonic " m=+..." suffix.
		json.NewEncoder(w).Encode(map[string]string{"time": time.Now().UTC().String()})
	})
	http.HandleFunc("/nanotime", func(w http.ResponseWriter, r *http.Request) {
		log.Print(r.Method, " ", r.URL.Path)
		nanos := strconv.FormatInt(time.Now().UnixNano(), 10)
		json.NewEncoder(w).Encode(map[string]string{"nanoTime": nanos})
	})
	log.Fatal(http.ListenAndServe(addr, nil))
}
