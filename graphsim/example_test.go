package graphsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/callstream/callstream/graphsim"
)

func Example() {
	start := time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC)
	sim, err := graphsim.New(graphsim.Config{
		Seed: 1, Start: start, End: start.Add(24 * time.Hour), RowsPerHour: 100, Token: "secret",
		Faults: []graphsim.Fault{{Every: 1, Status: http.StatusTooManyRequests, RetryAfter: "1", Limit: 1}},
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(sim)
	defer ts.Close()

	next := ts.URL + "/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-11-02)"
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		if resp.StatusCode != http.StatusOK {
			fmt.Println(resp.StatusCode, "Retry-After", resp.Header.Get("Retry-After"))
			resp.Body.Close()
			continue
		}
		var page struct {
			Count    int    `json:"@odata.count"`
			NextLink string `json:"@odata.nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			panic(err)
		}
		fmt.Println(resp.StatusCode, "rows", page.Count)
		next = page.NextLink
	}
	fmt.Println("ground truth", sim.Count(start, start.Add(24*time.Hour)))
	// Output:
	// 429 Retry-After 1
	// 200 rows 1000
	// 200 rows 1000
	// 200 rows 400
	// ground truth 2400
}
