// Running an Argo CD health script the way Argo CD's util/lua package does.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	luajson "layeh.com/gopher-json"
)

// HealthStatus is what a health script returns.
type HealthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// validHealthStatuses are the codes Argo CD accepts from a script.
var validHealthStatuses = map[string]bool{
	"Unknown": true, "Progressing": true, "Suspended": true,
	"Healthy": true, "Degraded": true, "Missing": true,
}

// scriptTimeout is the time Argo CD gives one script run.
const scriptTimeout = time.Second

// evaluateHealth runs script with the global obj set to the object and
// converts the returned table as Argo CD does. Like a check configured in
// argocd-cm without useOpenLibs, only the package, base and table libraries
// are open (Argo CD adds a reduced os library with time and date only).
func evaluateHealth(obj *unstructured.Unstructured, script string) (*HealthStatus, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return nil, fmt.Errorf("opening Lua library %q: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	l.SetContext(ctx)

	l.SetGlobal("obj", toLuaValue(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return nil, err
	}
	returned := l.Get(-1)
	if returned.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", returned.Type())
	}
	encoded, err := luajson.Encode(returned)
	if err != nil {
		return nil, err
	}
	health := &HealthStatus{}
	if err := json.Unmarshal(encoded, health); err != nil {
		return nil, err
	}
	if !validHealthStatuses[health.Status] {
		return &HealthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return health, nil
}

// toLuaValue converts a decoded object into Lua values with the same rules as
// Argo CD's decodeValue: lists become sequences, maps become tables, every
// number kind becomes a Lua number, json.Number becomes a string, and any
// other type becomes nil.
func toLuaValue(l *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case int:
		return lua.LNumber(v)
	case int32:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case []interface{}:
		arr := l.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLuaValue(l, item))
		}
		return arr
	case map[string]interface{}:
		tbl := l.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLuaValue(l, item))
		}
		return tbl
	}
	return lua.LNil
}
