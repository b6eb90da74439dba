package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/raftchat/raftchat/proto/chatpb"
)

// SignUp creates an account and logs in as it.
func (c *Client) SignUp(ctx context.Context, username, password string) (*chatpb.User, error) {
	req := &chatpb.SignUpRequest{Meta: c.NewWriteMeta(), Username: username, Password: password}
	var resp *chatpb.AuthResponse
	err := c.do(ctx, false, func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		resp, err = rpc.SignUp(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign up %s: %w", username, err)
	}
	c.setSession(username, password, resp)
	return resp.GetUser(), nil
}

// Login logs in and keeps the tokens for later calls.
func (c *Client) Login(ctx context.Context, username, password string) (*chatpb.User, error) {
	req := &chatpb.LoginRequest{Username: username, Password: password, ClientId: c.cfg.ClientID}
	var resp *chatpb.AuthResponse
	err := c.do(ctx, false, func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
		resp, err = rpc.Login(ctx, req)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("log in %s: %w", username, err)
	}
	c.setSession(username, password, resp)
	return resp.GetUser(), nil
}

// Logout revokes the access and refresh tokens on every node and forgets them.
func (c *Client) Logout(ctx context.Context) error {
	c.mu.Lock()
	refresh := c.session.refresh
	c.mu.Unlock()
	req := &chatpb.LogoutRequest{Meta: c.NewWriteMeta(), RefreshToken: refresh}
	err := c.Do(ctx, func(ctx context.Context, rpc chatpb.ChatServiceClient) error {
		_, err := rpc.Logout(ctx, req)
		return err
	})
	c.mu.Lock()
	c.session = session{}
	c.mu.Unlock()
	return err
}

// ChangePassword changes the caller's password. The cluster then refuses every token issued
// before the change, this client's included, so it logs in again with the new password.
func (c *Client) ChangePassword(ctx context.Context, oldPassword, newPassword string) error {
	req := &chatpb.ChangePasswordRequest{Meta: c.NewWriteMeta(), OldPassword: oldPassword, NewPassword: newPassword}
	if _, err := invoke(ctx, c, req, chatpb.ChatServiceClient.ChangePassword); err != nil {
		// A retry after a lost acknowledgement cannot be answered from the first attempt's
		// result: the change revoked the token the retry carries and replaced the password it
		// checks. If the new password logs in, that earlier attempt applied.
		if newPassword != oldPassword && ctx.Err() == nil {
			if _, lerr := c.Login(ctx, c.Username(), newPassword); lerr == nil {
				return nil
			}
		}
		return fmt.Errorf("change password: %w", err)
	}
	if _, err := c.Login(ctx, c.Username(), newPassword); err != nil {
		return fmt.Errorf("password changed, but: %w", err)
	}
	return nil
}

// SetTokens installs tokens obtained elsewhere (the CLI's saved session).
func (c *Client) SetTokens(username, access, refresh string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = session{username: username, access: access, refresh: refresh}
}

// Tokens returns the current access and refresh tokens.
func (c *Client) Tokens() (access, refresh string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session.access, c.session.refresh
}

func (c *Client) setSession(username, password string, resp *chatpb.AuthResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.session = session{
		username: username, password: password,
		access: resp.GetAccessToken(), refresh: resp.GetRefreshToken(),
		accessExp:  time.UnixMilli(resp.GetAccessExpiresUnixMs()),
		refreshExp: time.UnixMilli(resp.GetRefreshExpiresUnixMs()),
	}
}

func (c *Client) canRefresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session.refresh != "" || c.session.password != ""
}

// refresh exchanges the refresh token for a new pair, or logs in again with the remembered
// password when the refresh token is refused.
func (c *Client) refresh(ctx context.Context) error {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s.refresh != "" {
		req := &chatpb.RefreshRequest{Meta: c.NewWriteMeta(), RefreshToken: s.refresh}
		var resp *chatpb.AuthResponse
		err := c.do(ctx, false, func(ctx context.Context, rpc chatpb.ChatServiceClient) (err error) {
			resp, err = rpc.Refresh(ctx, req)
			return err
		})
		if err == nil {
			c.setSession(s.username, s.password, resp)
			return nil
		}
		if s.password == "" {
			return err
		}
	}
	if s.password == "" {
		return errors.New("no refresh token")
	}
	_, err := c.Login(ctx, s.username, s.password)
	return err
}
