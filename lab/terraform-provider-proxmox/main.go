// Command terraform-provider-proxmox is the lab's stand-in for bpg/proxmox, which no registry here
// serves: the two resources a Talos-on-Proxmox repository builds its VMs from,
// proxmox_virtual_environment_vm and proxmox_virtual_environment_download_file, with the schema and
// the replacement rules of bpg/terraform-provider-proxmox v0.111.1 (proxmoxtf/resource/vm/vm.go,
// proxmoxtf/resource/vm/disk/schema.go, fwprovider/nodes/resource_download_file.go). Their VMs are the
// lab's: creating and destroying one asks the lab daemon, at the provider's endpoint. Only the
// attributes the lab's repositories use are served; the real VM resource is built on the plugin SDK
// v2, this one on the plugin framework, which a user's configuration cannot tell apart.
package main

import (
	"context"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// version is what the lab's filesystem mirror calls this build (the real provider's release it follows).
const version = "0.111.1"

type proxmoxProvider struct{}

type providerModel struct {
	Endpoint types.String `tfsdk:"endpoint"`
	APIToken types.String `tfsdk:"api_token"`
	Insecure types.Bool   `tfsdk:"insecure"`
}

func (p *proxmoxProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "proxmox"
	resp.Version = version
}

// Schema: the real provider's connection settings a lab repository sets. The endpoint is the lab
// daemon's API for this cluster, where a Proxmox host's API would be.
func (p *proxmoxProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"endpoint":  schema.StringAttribute{Required: true},
		"api_token": schema.StringAttribute{Optional: true, Sensitive: true},
		"insecure":  schema.BoolAttribute{Optional: true},
	}}
}

func (p *proxmoxProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var config providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	client := &labClient{endpoint: config.Endpoint.ValueString()}
	resp.ResourceData = client
}

func (p *proxmoxProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newVM, newDownloadFile}
}

func (p *proxmoxProvider) DataSources(context.Context) []func() datasource.DataSource { return nil }

func main() {
	err := providerserver.Serve(context.Background(), func() provider.Provider { return &proxmoxProvider{} },
		providerserver.ServeOpts{Address: "registry.terraform.io/bpg/proxmox"})
	if err != nil {
		log.Fatal(err)
	}
}
