package catena

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// queryBuilder encodes query parameters in the order they are added, with
// list parameters repeated (?vehicle_ids=a&vehicle_ids=b), as the API's
// form/explode style wants.
type queryBuilder struct{ b strings.Builder }

func (q *queryBuilder) add(name, value string) {
	if q.b.Len() > 0 {
		q.b.WriteByte('&')
	}
	q.b.WriteString(name)
	q.b.WriteByte('=')
	q.b.WriteString(url.QueryEscape(value))
}

func (q *queryBuilder) addList(name string, values []string) {
	for _, v := range values {
		q.add(name, v)
	}
}

func (q *queryBuilder) addBool(name string, v bool) { q.add(name, strconv.FormatBool(v)) }

func (q *queryBuilder) addTime(name string, t time.Time) {
	q.add(name, t.UTC().Format(time.RFC3339Nano))
}

func (q *queryBuilder) String() string { return q.b.String() }

func queryEscape(s string) string { return url.QueryEscape(s) }

// checkList enforces the contract's maxItems on a list filter and rejects
// empty values, which the API would read as a filter on "".
func checkList(name string, values []string) error {
	if len(values) > maxFilterValues {
		return fmt.Errorf("%s: %d values, the API accepts at most %d per request", name, len(values), maxFilterValues)
	}
	for i, v := range values {
		if v == "" {
			return fmt.Errorf("%s[%d]: empty value", name, i)
		}
	}
	return nil
}

// pageSize applies our default (MaxPageSize, not the API's 300: fewer
// requests under the same rate limit) and checks the contract's 1..1000.
func pageSize(size int) (int, error) {
	if size == 0 {
		return MaxPageSize, nil
	}
	if size < 1 || size > MaxPageSize {
		return 0, fmt.Errorf("size = %d: must be between 1 and %d (0 = %d)", size, MaxPageSize, MaxPageSize)
	}
	return size, nil
}

// namedList is a list query parameter and its name, for checkLists.
type namedList struct {
	name string
	v    []string
}

// checkLists checks each list parameter with checkList.
func checkLists(lists ...namedList) error {
	for _, l := range lists {
		if err := checkList(l.name, l.v); err != nil {
			return err
		}
	}
	return nil
}
