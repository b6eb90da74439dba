package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/raftchat/raftchat/client"
)

func addFileCommands(root *cobra.Command, g *globalFlags, out io.Writer) {
	root.AddCommand(newUploadCmd(g, out), newDownloadCmd(g, out))
}

func newUploadCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var caption string
	cmd := &cobra.Command{
		Use:   "upload CONVERSATION PATH",
		Short: "upload a file and share it in a conversation",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer func() { _ = f.Close() }()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return usageError{fmt.Errorf("%s is not a regular file", args[1])}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				ref, err := c.UploadFile(ctx, args[0], filepath.Base(args[1]), f, fi.Size())
				if err != nil {
					return err
				}
				m, err := c.ShareFile(ctx, args[0], ref.GetFileId(), caption)
				if err != nil {
					return fmt.Errorf("uploaded file %d but could not share it: %w", ref.GetFileId(), err)
				}
				_, _ = fmt.Fprintf(out, "uploaded file %d %s %d bytes as %s #%d\n",
					ref.GetFileId(), ref.GetName(), ref.GetSize(), m.GetConversationId(), m.GetSeq())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&caption, "caption", "", "text of the message sharing the file")
	return cmd
}

func newDownloadCmd(g *globalFlags, out io.Writer) *cobra.Command {
	var dest string
	cmd := &cobra.Command{
		Use:   "download FILE_ID",
		Short: "download a file (-o PATH, default its name in the current directory; -o - for stdout)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || id == 0 {
				return usageError{fmt.Errorf("FILE_ID must be a file number (1, 2, ...), not %q", args[0])}
			}
			return withClient(cmd, g, true, func(ctx context.Context, c *client.Client) error {
				ref, err := c.FileInfo(ctx, id)
				if err != nil {
					return err
				}
				path := dest
				if path == "" {
					path = localName(ref.GetName(), id)
				}
				download := func(w io.Writer) error {
					h := sha256.New()
					n, err := c.DownloadFile(ctx, id, 0, io.MultiWriter(w, h))
					if err != nil {
						return err
					}
					if n != ref.GetSize() || !bytes.Equal(h.Sum(nil), ref.GetSha256()) {
						return fmt.Errorf("download %d: got %d bytes not matching the file's %d bytes and SHA-256", id, n, ref.GetSize())
					}
					return nil
				}
				if path == "-" {
					return download(out)
				}
				if err := writeAtomically(path, download); err != nil {
					return err
				}
				_, _ = fmt.Fprintf(out, "downloaded file %d %s %d bytes to %s\n", id, ref.GetName(), ref.GetSize(), path)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&dest, "output", "o", "", "where to write the file (- for stdout)")
	return cmd
}

// localName is where a downloaded file goes by default: its uploaded name without any
// directory part, which the uploader chose and so must not pick a path on this machine.
func localName(name string, id uint64) string {
	base := filepath.Base(filepath.Clean("/" + name))
	if base == "/" || base == "." || base == ".." {
		return fmt.Sprintf("file-%d", id)
	}
	return base
}

// writeAtomically has write fill a temporary file beside path and renames it onto path
// only when write succeeded and the data is on disk, so path never holds part of a file and
// a failed download leaves nothing behind.
func writeAtomically(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	// CreateTemp makes the file private; a downloaded file is an ordinary one.
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) {
		return nil // some platforms cannot sync a directory
	}
	return err
}
