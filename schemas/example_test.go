package schemas_test

import (
	"errors"
	"fmt"

	"github.com/callstream/callstream/schemas"
)

func ExampleParseDirectRoutingRow() {
	raw := []byte(`{
		"id": "9e8bba57-dc14-533a-a7dd-f0da6575eed1",
		"correlationId": "c98e1515-a937-4b81-b8a8-3992afde64e0",
		"startDateTime": "2019-11-01T02:00:25.1050000+02:00",
		"failureDateTime": "0001-01-01T00:00:00Z",
		"duration": 5,
		"userCountryCode": "US"
	}`)

	var row schemas.DirectRoutingLogRow
	if err := schemas.ParseDirectRoutingRow(raw, &row); err != nil {
		panic(err)
	}
	fmt.Println(row.StartDateTime, row.FailureDateTime == nil, *row.Duration, row.AdditionalProperties)

	data, err := row.AppendAvro(nil)
	if err != nil {
		panic(err)
	}
	var back schemas.DirectRoutingLogRow
	if err := schemas.DecodeDirectRoutingRow(data, &back); err != nil {
		panic(err)
	}
	fmt.Println(back.ID, back.StartDateTime.UnixMilli())

	// Output:
	// 2019-11-01 00:00:25.105 +0000 UTC true 5 map[userCountryCode:"US"]
	// 9e8bba57-dc14-533a-a7dd-f0da6575eed1 1572566425105
}

func ExampleRowError() {
	err := schemas.ParseDirectRoutingRow([]byte(`{"id": "a", "correlationId": "b", "duration": "5"}`), new(schemas.DirectRoutingLogRow))

	var rerr *schemas.RowError
	if errors.As(err, &rerr) {
		// A producer would send the raw row to its dead-letter topic here.
		fmt.Println(rerr.Field)
		fmt.Println(err)
	}
	// Output:
	// duration
	// row field "duration": want integer, got string
}
