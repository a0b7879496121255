package expr

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// Vars are the values of the expression variables. Each is plain JSON-like Go data (maps, slices, strings,
// numbers, bools) or a struct that encoding/json can turn into such data.
type Vars struct {
	Alert  any
	Inputs map[string]any
	Steps  map[string]any
	Run    map[string]any

	act interpreter.Activation
}

func (v *Vars) activation() interpreter.Activation {
	if v.act != nil {
		return v.act
	}
	m := map[string]any{
		VarAlert:  mustValue(v.Alert),
		VarInputs: mustValue(v.Inputs),
		VarSteps:  mustValue(v.Steps),
		VarRun:    mustValue(v.Run),
	}
	act, err := interpreter.NewActivation(m)
	if err != nil {
		act, _ = interpreter.NewActivation(map[string]any{})
	}
	v.act = act
	return act
}

// Reset drops the converted values so changed fields are converted again on the next evaluation.
func (v *Vars) Reset() { v.act = nil }

func mustValue(x any) ref.Val {
	val, err := Value(x)
	if err != nil {
		return types.NewErr("%v", err)
	}
	return val
}

// Value converts plain Go data to a CEL value whose maps iterate in sorted key order. Integral float64s (what
// JSON decoding gives for every number) become ints so `x + 1` works on counts.
func Value(x any) (ref.Val, error) {
	switch v := x.(type) {
	case nil:
		return types.NullValue, nil
	case ref.Val:
		return v, nil
	case string:
		return types.String(v), nil
	case bool:
		return types.Bool(v), nil
	case int:
		return types.Int(v), nil
	case int32:
		return types.Int(v), nil
	case int64:
		return types.Int(v), nil
	case uint32:
		return types.Uint(v), nil
	case uint64:
		return types.Uint(v), nil
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return types.Int(int64(v)), nil
		}
		return types.Double(v), nil
	case float32:
		return Value(float64(v))
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return types.Int(i), nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %q: %w", v, err)
		}
		return types.Double(f), nil
	case time.Time:
		return types.String(v.UTC().Format(time.RFC3339Nano)), nil
	case time.Duration:
		return types.String(v.String()), nil
	case []string:
		elems := make([]ref.Val, len(v))
		for i, s := range v {
			elems[i] = types.String(s)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems), nil
	case []any:
		elems := make([]ref.Val, len(v))
		for i, e := range v {
			ev, err := Value(e)
			if err != nil {
				return nil, err
			}
			elems[i] = ev
		}
		return types.NewRefValList(types.DefaultTypeAdapter, elems), nil
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		return Value(m)
	case map[string]any:
		return newSortedMap(v)
	}
	// Structs and other types: through JSON, which gives the data its documented field names.
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return types.NullValue, nil
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", x, err)
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, fmt.Errorf("convert %T: %w", x, err)
	}
	return Value(generic)
}

// sortedMap is a CEL map whose iteration order is its sorted keys.
type sortedMap struct {
	traits.Mapper
	keys []string
}

func newSortedMap(m map[string]any) (ref.Val, error) {
	keys := sortedStrings(m)
	vals := make(map[ref.Val]ref.Val, len(m))
	for _, k := range keys {
		v, err := Value(m[k])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		vals[types.String(k)] = v
	}
	return &sortedMap{Mapper: types.NewRefValMap(types.DefaultTypeAdapter, vals), keys: keys}, nil
}

// Iterator ranges over the keys in sorted order.
func (m *sortedMap) Iterator() traits.Iterator { return &keyIterator{keys: m.keys} }

// Equal compares with the underlying map, whichever side the sorted map is on.
func (m *sortedMap) Equal(other ref.Val) ref.Val {
	if o, ok := other.(*sortedMap); ok {
		return m.Mapper.Equal(o.Mapper)
	}
	return m.Mapper.Equal(other)
}

type keyIterator struct {
	keys []string
	i    int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }

func (it *keyIterator) Next() ref.Val {
	if it.i >= len(it.keys) {
		return nil
	}
	k := it.keys[it.i]
	it.i++
	return types.String(k)
}

func (it *keyIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}
func (it *keyIterator) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *keyIterator) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *keyIterator) Type() ref.Type                 { return types.IteratorType }
func (it *keyIterator) Value() any                     { return nil }

// native turns a CEL result into plain Go data.
func native(v ref.Val) (any, error) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		return float64(x), nil
	case types.Null:
		return nil, nil
	case types.Bytes:
		return string(x), nil
	case *types.Err:
		return nil, x
	}
	switch v.Type() {
	case types.ListType:
		l := v.(traits.Lister)
		n, _ := l.Size().(types.Int)
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			e, err := native(l.Get(i))
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case types.MapType:
		m := v.(traits.Mapper)
		out := map[string]any{}
		it := m.Iterator()
		for it.HasNext() == types.True {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			e, err := native(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	case types.TimestampType, types.DurationType:
		return fmt.Sprint(v.Value()), nil
	}
	return nil, fmt.Errorf("unsupported result type %s", v.Type().TypeName())
}

// Format renders a value the way interpolation inserts it into a string: strings as they are, numbers in
// their shortest form, lists and maps as JSON with sorted keys.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
