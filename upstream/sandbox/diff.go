package sandbox

import (
	"fmt"
	"strings"
)

// unifiedDiff renders `diff -u` output between a and b (empty string when
// equal). Common leading and trailing lines are trimmed first and the rest
// is diffed with an LCS table when small, or as one block replacement when
// huge: edits are local, so the output is minimal in practice and the cost
// bounded.
func unifiedDiff(a, b, labelA, labelB string) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", labelA, labelB)
	const ctx = 3
	// Group changes into hunks.
	i := 0
	for i < len(ops) {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-ctx, 0)
		end := i
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run == len(ops) || run-end > 2*ctx {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		writeHunk(&sb, ops[start:end])
		i = end
	}
	return sb.String()
}

type diffOp struct {
	kind  byte // ' ', '-', '+'
	line  string
	aLine int // 1-based line number in a (for ' ' and '-')
	bLine int // 1-based line number in b (for ' ' and '+')
}

func writeHunk(sb *strings.Builder, ops []diffOp) {
	aStart, aCount, bStart, bCount := 0, 0, 0, 0
	for _, op := range ops {
		if op.kind != '+' {
			if aCount == 0 {
				aStart = op.aLine
			}
			aCount++
		}
		if op.kind != '-' {
			if bCount == 0 {
				bStart = op.bLine
			}
			bCount++
		}
	}
	if aCount == 0 {
		aStart = ops[0].aLine - 1
	}
	if bCount == 0 {
		bStart = ops[0].bLine - 1
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
	for _, op := range ops {
		sb.WriteByte(op.kind)
		text, nl := strings.CutSuffix(op.line, "\n")
		sb.WriteString(text)
		sb.WriteByte('\n')
		if !nl {
			sb.WriteString("\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, count int) string {
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}

// splitLines keeps each line's "\n" so a missing final newline shows.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

const maxLCSCells = 4 << 20

func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	ai, bi := 0, 0
	eq := func() {
		ops = append(ops, diffOp{kind: ' ', line: a[ai], aLine: ai + 1, bLine: bi + 1})
		ai++
		bi++
	}
	del := func() { ops = append(ops, diffOp{kind: '-', line: a[ai], aLine: ai + 1, bLine: bi + 1}); ai++ }
	ins := func() { ops = append(ops, diffOp{kind: '+', line: b[bi], aLine: ai + 1, bLine: bi + 1}); bi++ }
	for range pre {
		eq()
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma)*len(mb) > maxLCSCells {
		for range ma {
			del()
		}
		for range mb {
			ins()
		}
	} else {
		// lcs[i][j] = LCS length of ma[i:], mb[j:]
		w := len(mb) + 1
		lcs := make([]int32, (len(ma)+1)*w)
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				eq()
				i++
				j++
			case i < len(ma) && (j == len(mb) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				del()
				i++
			default:
				ins()
				j++
			}
		}
	}
	for range suf {
		eq()
	}
	return ops
}
