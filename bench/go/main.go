// Command go-time-service is the book's Go time service, written here from its description as
// a benchmark subject: net/http with the default mux, encoding/json's encoder, log.Print on every
// call. The listen address is an argument so that the benchmark can pick a free port.
//
//	go-time-service 127.0.0.1:8080
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
	// Every call is logged to stdout, as in the chapter (kubectl logs), and as the component does.
	log.SetOutput(os.Stdout)
	http.HandleFunc("/time", func(w http.ResponseWriter, r *http.Request) {
		log.Print(r.Method, " ", r.URL.Path)
		json.NewEncoder(w).Encode(map[string]string{"time": time.Now().String()})
	})
	http.HandleFunc("/nanotime", func(w http.ResponseWriter, r *http.Request) {
		log.Print(r.Method, " ", r.URL.Path)
		nanos := strconv.FormatInt(time.Now().UnixNano(), 10)
		json.NewEncoder(w).Encode(map[string]string{"nanoTime": nanos})
	})
	log.Fatal(http.ListenAndServe(os.Args[1], nil))
}
