package lab

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/parry-soc/parry/activities/provider"
)

// BlockIP adds a perimeter block for an address and returns the rule id; an address already blocked keeps
// its rule. Any address can be blocked, known to the fixture or not.
func (l *Lab) BlockIP(_ context.Context, key, ip, comment string) (string, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", provider.InvalidInput("%q is not an IP address", ip)
	}
	a := addr.Unmap().String()
	return effect(l, "network.block_ip", key, a, func(st *State, now time.Time) (string, error) {
		if r, ok := st.BlockedIPs[a]; ok {
			return r.ID, nil
		}
		st.NextRule++
		r := Rule{ID: fmt.Sprintf("LAB-FW-%04d", st.NextRule), Key: key, At: now, Comment: comment}
		st.BlockedIPs[a] = r
		return r.ID, nil
	})
}

// UnblockIP removes the perimeter block of an address and reports whether there was one.
func (l *Lab) UnblockIP(_ context.Context, key, ip string) (bool, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false, provider.InvalidInput("%q is not an IP address", ip)
	}
	a := addr.Unmap().String()
	return effect(l, "network.unblock_ip", key, a, func(st *State, _ time.Time) (bool, error) {
		_, ok := st.BlockedIPs[a]
		delete(st.BlockedIPs, a)
		return ok, nil
	})
}
