package banner

import (
	"fmt"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// quietZone is the light margin around the code, in modules (ISO/IEC 18004 asks for 4).
const quietZone = 4

// QR codes are drawn two modules per character row with half blocks. The light modules
// (quiet zone included) are the drawn ones: on the usual dark log viewer that gives dark
// modules on a light ground; a terminal gets explicit colours so the theme cannot invert it.
const (
	upperHalf = "▀"
	lowerHalf = "▄"
	fullBlock = "█"
	qrColours = "\x1b[97;40m" // bright white on black
)

func writeQR(b *strings.Builder, info Info, terminal bool) error {
	rows, err := qrRows(info.link())
	if err != nil {
		return fmt.Errorf("draw the QR code of %s (unset TRACEBLOC_QR to go without it): %w", info.link(), err)
	}
	b.WriteString("  Or scan this QR code:\n")
	for _, row := range rows {
		b.WriteString("  ")
		if terminal {
			b.WriteString(qrColours + row + reset)
		} else {
			b.WriteString(row)
		}
		b.WriteByte('\n')
	}
	return nil
}

// qrRows returns the text rows of the QR code of content.
func qrRows(content string) ([]string, error) {
	code, err := qrcode.NewWith(content, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium))
	if err != nil {
		return nil, err
	}
	var m bitmap
	if err := code.Save(&m); err != nil {
		return nil, err
	}
	size := len(m.dark) + 2*quietZone
	light := func(x, y int) bool {
		x, y = x-quietZone, y-quietZone
		if y < 0 || y >= len(m.dark) || x < 0 || x >= len(m.dark[y]) {
			return true // the quiet zone
		}
		return !m.dark[y][x]
	}
	var rows []string
	for y := 0; y < size; y += 2 {
		var row strings.Builder
		for x := 0; x < size; x++ {
			top, bottom := light(x, y), y+1 < size && light(x, y+1)
			switch {
			case top && bottom:
				row.WriteString(fullBlock)
			case top:
				row.WriteString(upperHalf)
			case bottom:
				row.WriteString(lowerHalf)
			default:
				row.WriteByte(' ')
			}
		}
		rows = append(rows, row.String())
	}
	return rows, nil
}

// bitmap is a qrcode.Writer that keeps the modules: dark[y][x] is true for a dark module.
type bitmap struct{ dark [][]bool }

func (m *bitmap) Write(mat qrcode.Matrix) error { m.dark = mat.Bitmap(); return nil }
func (m *bitmap) Close() error                  { return nil }
