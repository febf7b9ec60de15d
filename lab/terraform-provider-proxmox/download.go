package main

import (
	"context"
	"fmt"
	"net/http"
	"path"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type downloadFileModel struct {
	ID                     types.String `tfsdk:"id"`
	ContentType            types.String `tfsdk:"content_type"`
	DatastoreID            types.String `tfsdk:"datastore_id"`
	NodeName               types.String `tfsdk:"node_name"`
	URL                    types.String `tfsdk:"url"`
	FileName               types.String `tfsdk:"file_name"`
	DecompressionAlgorithm types.String `tfsdk:"decompression_algorithm"`
	Overwrite              types.Bool   `tfsdk:"overwrite"`
	Verify                 types.Bool   `tfsdk:"verify"`
	UploadTimeout          types.Int64  `tfsdk:"upload_timeout"`
	Size                   types.Int64  `tfsdk:"size"`
}

type downloadFile struct{ client *labClient }

func newDownloadFile() resource.Resource { return &downloadFile{} }

func (r *downloadFile) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if client, ok := req.ProviderData.(*labClient); ok {
		r.client = client
	}
}

func (r *downloadFile) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_virtual_environment_download_file"
}

// Schema: v0.111.1's (fwprovider/nodes/resource_download_file.go:209-352). Every setting but
// overwrite, verify and upload_timeout requires a replacement: a new url is a new file, downloaded
// again, which is how a version bump reaches the VMs whose disk names the file.
func (r *downloadFile) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"id":           schema.StringAttribute{Computed: true, PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
		"content_type": schema.StringAttribute{Required: true, PlanModifiers: replace},
		"datastore_id": schema.StringAttribute{Required: true, PlanModifiers: replace},
		"node_name":    schema.StringAttribute{Required: true, PlanModifiers: replace},
		"url":          schema.StringAttribute{Required: true, PlanModifiers: replace},
		"file_name": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: []planmodifier.String{
			stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace(),
		}},
		"decompression_algorithm": schema.StringAttribute{Optional: true, PlanModifiers: replace},
		"overwrite":               schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true)},
		"verify":                  schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true)},
		"upload_timeout":          schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(600)},
		"size":                    schema.Int64Attribute{Computed: true, PlanModifiers: []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}},
	}}
}

// Create downloads the file as Proxmox's download-url does: a URL that does not answer 200 fails the
// apply (the lab registry serves the Image Factory's images of the releases it plays). The id is
// <datastore>:<content_type>/<file_name> (resource_download_file.go:480-481).
func (r *downloadFile) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan downloadFileModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	url := plan.URL.ValueString()
	answer, err := http.Head(url)
	if err != nil {
		resp.Diagnostics.AddError("error downloading file", fmt.Sprintf("%s: %s", url, err))
		return
	}
	_ = answer.Body.Close()
	if answer.StatusCode != http.StatusOK {
		resp.Diagnostics.AddError("error downloading file", fmt.Sprintf("%s: HTTP %d", url, answer.StatusCode))
		return
	}
	if plan.FileName.IsUnknown() || plan.FileName.ValueString() == "" {
		plan.FileName = types.StringValue(path.Base(url))
	}
	plan.Size = types.Int64Value(max(answer.ContentLength, 0))
	plan.ID = types.StringValue(fmt.Sprintf("%s:%s/%s", plan.DatastoreID.ValueString(), plan.ContentType.ValueString(), plan.FileName.ValueString()))
	// The datastore now holds the file: a VM whose disk names it boots what was downloaded (its
	// schematic and version), not what the lab remembers of the node.
	// The datastore is the host's (node_name): `local` is each Proxmox host's own disk.
	if err := r.client.post("/datastore/file", map[string]string{"id": plan.ID.ValueString(), "url": url, "node": plan.NodeName.ValueString()}); err != nil {
		resp.Diagnostics.AddError("error downloading file", err.Error())
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *downloadFile) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state downloadFileModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if !resp.Diagnostics.HasError() {
		resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
	}
}

func (r *downloadFile) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state downloadFileModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ID, plan.Size = state.ID, state.Size
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// Delete removes the file from the datastore; VMs made from it keep the disks they imported.
func (r *downloadFile) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state downloadFileModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.client.post("/datastore/remove", map[string]string{"id": state.ID.ValueString(), "node": state.NodeName.ValueString()}); err != nil {
		resp.Diagnostics.AddError("error deleting file", err.Error())
	}
}
