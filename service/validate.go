package service

import (
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftchat/raftchat/proto/chatpb"
	"github.com/raftchat/raftchat/statemachine"
)

// Request bounds checked at the edge before anything reaches the log. The state machine
// checks its own rules again (membership, exact username syntax).
const (
	maxClientIDBytes    = 128
	maxUsernameBytes    = 64
	minPasswordBytes    = 8
	maxPasswordBytes    = 256
	maxConvIDBytes      = 128
	maxGroupNameBytes   = 128
	maxGroupMembers     = 1000
	maxEmojiBytes       = 32
	maxQueryBytes       = 256
	maxFileNameBytes    = 255
	maxTokenBytes       = 4096
	sha256Bytes         = 32
	maxSuggestionsAsked = 10
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// validateRequest checks one request against the limits of cfg. It never panics, whatever
// the request holds (FuzzValidateRequest checks that).
func validateRequest(req any, cfg *Config) error {
	switch r := req.(type) {
	case *chatpb.SignUpRequest:
		return firstErr(checkMeta(r.GetMeta()), checkUsername(r.GetUsername()),
			checkPassword("password", r.GetPassword()))
	case *chatpb.LoginRequest:
		return firstErr(checkUsername(r.GetUsername()), checkBytes("password", r.GetPassword(), 1, maxPasswordBytes),
			checkBytes("client_id", r.GetClientId(), 0, maxClientIDBytes))
	case *chatpb.RefreshRequest:
		return firstErr(checkMeta(r.GetMeta()), checkBytes("refresh_token", r.GetRefreshToken(), 1, maxTokenBytes))
	case *chatpb.LogoutRequest:
		return firstErr(checkMeta(r.GetMeta()), checkBytes("refresh_token", r.GetRefreshToken(), 0, maxTokenBytes))
	case *chatpb.ChangePasswordRequest:
		return firstErr(checkMeta(r.GetMeta()), checkBytes("old_password", r.GetOldPassword(), 1, maxPasswordBytes),
			checkPassword("new_password", r.GetNewPassword()))
	case *chatpb.CreateGroupRequest:
		return firstErr(checkMeta(r.GetMeta()), checkText("name", r.GetName(), 1, maxGroupNameBytes), checkMembers(r.GetMembers()))
	case *chatpb.RenameGroupRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()), checkText("name", r.GetName(), 1, maxGroupNameBytes))
	case *chatpb.MemberRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()), checkUsername(r.GetUsername()))
	case *chatpb.LeaveGroupRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()))
	case *chatpb.SetGroupAdminRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()), checkUsername(r.GetUsername()))
	case *chatpb.GetConversationRequest:
		return checkConv(r.GetConversationId())
	case *chatpb.PostMessageRequest:
		return validatePost(r, cfg)
	case *chatpb.EditMessageRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()), checkSeq(r.GetSeq()),
			checkText("text", r.GetText(), 1, cfg.MaxMessageBytes))
	case *chatpb.DeleteMessageRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()), checkSeq(r.GetSeq()))
	case *chatpb.ReactRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()), checkSeq(r.GetSeq()),
			checkText("emoji", r.GetEmoji(), 1, maxEmojiBytes))
	case *chatpb.MarkReadRequest:
		return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()))
	case *chatpb.HistoryRequest:
		return checkConv(r.GetConversationId())
	case *chatpb.SearchRequest:
		return firstErr(checkText("query", r.GetQuery(), 1, maxQueryBytes),
			checkBytes("conversation_id", r.GetConversationId(), 0, maxConvIDBytes))
	case *chatpb.SetPresenceRequest:
		return checkMeta(r.GetMeta())
	case *chatpb.StartUploadRequest:
		return validateStartUpload(r, cfg)
	case *chatpb.UploadChunk:
		return validateChunk(r, cfg)
	case *chatpb.UploadStatusRequest:
		return checkFileID(r.GetFileId())
	case *chatpb.DownloadRequest:
		return checkFileID(r.GetFileId())
	case *chatpb.SuggestRequest:
		return firstErr(checkConv(r.GetConversationId()), checkRange("max", uint64(r.GetMax()), 0, maxSuggestionsAsked))
	case *chatpb.AdminSetUserDisabledRequest:
		return firstErr(checkMeta(r.GetMeta()), checkUsername(r.GetUsername()))
	case *chatpb.AdminSetRoleRequest:
		if r.GetRole() != chatpb.Role_ROLE_USER && r.GetRole() != chatpb.Role_ROLE_ADMIN {
			return invalid("role must be ROLE_USER or ROLE_ADMIN")
		}
		return firstErr(checkMeta(r.GetMeta()), checkUsername(r.GetUsername()))
	case *chatpb.AddClusterMemberRequest:
		return validMember(r)
	case *chatpb.RemoveClusterMemberRequest:
		if r.GetId() == 0 {
			return invalid("node id must be positive")
		}
		return nil
	case *chatpb.ListConversationsRequest, *chatpb.ListUsersRequest, *chatpb.SubscribeRequest,
		*chatpb.ClusterStatusRequest, *chatpb.ClusterMembersRequest:
		return nil
	case *chatpb.PostStreamRequest:
		if r.GetPost() == nil {
			return invalid("post stream request without a post")
		}
		return validatePost(r.GetPost(), cfg)
	case nil:
		return invalid("empty request")
	}
	return invalid("unexpected request type %T", req)
}

func validatePost(r *chatpb.PostMessageRequest, cfg *Config) error {
	if (r.GetConversationId() == "") == (r.GetToUser() == "") {
		return invalid("give exactly one of conversation_id and to_user")
	}
	minText := 1
	if r.GetFileId() != 0 {
		if r.GetToUser() != "" {
			return invalid("a file is shared into its conversation, not to_user")
		}
		minText = 0
	}
	if r.GetToUser() != "" {
		if err := checkUsername(r.GetToUser()); err != nil {
			return err
		}
	} else if err := checkConv(r.GetConversationId()); err != nil {
		return err
	}
	return firstErr(checkMeta(r.GetMeta()), checkText("text", r.GetText(), minText, cfg.MaxMessageBytes))
}

func validateStartUpload(r *chatpb.StartUploadRequest, cfg *Config) error {
	return firstErr(checkMeta(r.GetMeta()), checkConv(r.GetConversationId()),
		checkText("name", r.GetName(), 1, maxFileNameBytes),
		checkRange("size", r.GetSize(), 1, uint64(cfg.MaxFileBytes)),
		checkRange("chunk_size", uint64(r.GetChunkSize()), 1, uint64(cfg.MaxChunkBytes)),
		checkBytes("sha256", string(r.GetSha256()), sha256Bytes, sha256Bytes))
}

func validateChunk(r *chatpb.UploadChunk, cfg *Config) error {
	return firstErr(checkMeta(r.GetMeta()), checkFileID(r.GetFileId()),
		checkBytes("data", string(r.GetData()), 1, cfg.MaxChunkBytes),
		checkBytes("sha256", string(r.GetSha256()), sha256Bytes, sha256Bytes))
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkMeta(m *chatpb.WriteMeta) error {
	if m == nil {
		return invalid("meta (client_id, request_id) is required on writes")
	}
	if m.GetRequestId() == 0 {
		return invalid("meta.request_id must be positive")
	}
	return checkBytes("meta.client_id", m.GetClientId(), 1, maxClientIDBytes)
}

func checkBytes(field, v string, lo, hi int) error {
	if len(v) < lo || len(v) > hi {
		if lo == hi {
			return invalid("%s must have %d bytes, got %d", field, lo, len(v))
		}
		return invalid("%s must have %d to %d bytes, got %d", field, lo, hi, len(v))
	}
	return nil
}

// checkText is checkBytes for human text: valid UTF-8 without NUL.
func checkText(field, v string, lo, hi int) error {
	if err := checkBytes(field, v, lo, hi); err != nil {
		return err
	}
	if !utf8.ValidString(v) {
		return invalid("%s is not valid UTF-8", field)
	}
	for i := 0; i < len(v); i++ {
		if v[i] == 0 {
			return invalid("%s contains a NUL byte", field)
		}
	}
	return nil
}

func checkRange(field string, v, lo, hi uint64) error {
	if v < lo || v > hi {
		return invalid("%s must be in [%d, %d], got %d", field, lo, hi, v)
	}
	return nil
}

// checkUsername applies the state machine's username rule (statemachine.ValidUsername: 3-32
// of a-z 0-9 _ . - starting with a letter) before anything reaches the log.
func checkUsername(u string) error {
	if len(u) > maxUsernameBytes || !statemachine.ValidUsername(u) {
		return invalid("invalid username %q: 3-32 of a-z 0-9 _ . - starting with a letter", u)
	}
	return nil
}

func checkPassword(field, p string) error {
	return checkBytes(field, p, minPasswordBytes, maxPasswordBytes)
}

func checkConv(id string) error { return checkText("conversation_id", id, 1, maxConvIDBytes) }

func checkSeq(seq uint64) error {
	if seq == 0 {
		return invalid("seq must be positive")
	}
	return nil
}

func checkFileID(id uint64) error {
	if id == 0 {
		return invalid("file_id must be positive")
	}
	return nil
}

func checkMembers(ms []string) error {
	if len(ms) > maxGroupMembers {
		return invalid("at most %d members, got %d", maxGroupMembers, len(ms))
	}
	for i, m := range ms {
		if err := checkUsername(m); err != nil {
			return invalid("members[%d]: %s", i, status.Convert(err).Message())
		}
	}
	return nil
}
