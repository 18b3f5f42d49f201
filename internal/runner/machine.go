package runner

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine is what this machine has to offer: its CPUs, memory and the
// indices of its GPUs (from nvidia-smi when present).
type Machine struct {
	CPU      float64
	MemoryGB float64
	GPUs     []string
}

// DetectMachine reads the machine's resources.
func DetectMachine(ctx context.Context) Machine {
	return Machine{CPU: detectCPU(), MemoryGB: detectMemoryGB(), GPUs: detectGPUs(ctx)}
}

func detectCPU() float64 { return float64(runtime.NumCPU()) }

// detectMemoryGB reads MemTotal from /proc/meminfo, in GB (2^30 bytes),
// rounded down to a tenth.
func detectMemoryGB() float64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				kb, err := strconv.ParseFloat(fs[0], 64)
				if err == nil {
					return float64(int(kb/(1<<20)*10)) / 10
				}
			}
		}
	}
	return 0
}

// detectGPUs lists the GPU indices nvidia-smi reports; none when it is
// absent or fails.
func detectGPUs(ctx context.Context) []string {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--query-gpu=index", "--format=csv,noheader").Output()
	if err != nil {
		return nil
	}
	var ids []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ids = append(ids, l)
		}
	}
	return ids
}
